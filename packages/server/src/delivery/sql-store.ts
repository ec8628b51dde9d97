import {
  type CountIncrement,
  type DeliveryPreferences,
  type DeliveryStore,
  type Job,
  type JobFilter,
  type JobRow,
  type JobState,
  type NewJob,
  type PushSubscription,
  type StatDbRow,
  type StatRow,
  type SubscriptionRow,
  type Webhook,
  type WebhookRow,
  DEFAULT_DELIVERY_PREFERENCES,
  toJob,
  toStat,
  toSubscription,
  toWebhook,
} from './delivery-store.js';

export interface Statement {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/** How a backend runs one statement (`?` placeholders; the PostgreSQL runner numbers them). */
export interface SqlExec {
  rows<T>(sql: string, params: readonly unknown[]): Promise<T[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params: readonly unknown[]): Promise<number>;
  /** Runs the statements in order in one transaction; returns the rows each changed. */
  batch(statements: readonly Statement[]): Promise<number[]>;
}

export interface DeliveryTables {
  readonly jobs: string;
  readonly subscriptions: string;
  readonly webhooks: string;
  readonly preferences: string;
  readonly settings: string;
  readonly stats: string;
}

/** Jobs per INSERT (9 parameters each: far below either database's limit). */
const ENQUEUE_ROWS = 200;

const JOB_COLUMNS =
  'id, channel, user_id, notification_id, target, not_before, payload, state, attempts, last_error, created_at, updated_at';

/**
 * The delivery store's statements, shared by both SQL backends; each backend gives its DDL,
 * its runner and its claim statement (the one place the dialects differ in meaning: SQLite
 * has one writer, PostgreSQL needs SKIP LOCKED so nodes claim disjoint jobs without waiting).
 */
export abstract class SqlDeliveryStore implements DeliveryStore {
  constructor(
    protected readonly exec: SqlExec,
    protected readonly t: DeliveryTables,
  ) {}

  abstract init(): Promise<void>;

  /**
   * Leases due jobs: one statement that picks and marks them, so two claimers never share
   * one. Parameters: owner, leaseUntil, now (due), now (lease over), limit.
   */
  protected abstract claimSql(): string;

  async enqueue(jobs: readonly NewJob[], now: number): Promise<string[]> {
    // In key order: two nodes inserting overlapping batches then lock rows in the same order
    // (PostgreSQL), so they queue behind each other instead of deadlocking. One statement per
    // ENQUEUE_ROWS jobs: a send to 10,000 users is 50 round trips, not 10,000.
    const unique = [...new Map(jobs.map((j) => [j.id, j])).values()];
    const sorted = unique.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const fresh = new Set<string>();
    for (let i = 0; i < sorted.length; i += ENQUEUE_ROWS) {
      const part = sorted.slice(i, i + ENQUEUE_ROWS);
      const rows = await this.exec.rows<{ id: string }>(
        `INSERT INTO ${this.t.jobs} (${JOB_COLUMNS}, lease_owner, lease_until)
         VALUES ${part.map(() => "(?, ?, ?, ?, ?, ?, ?, 'pending', 0, NULL, ?, ?, NULL, 0)").join(', ')}
         ON CONFLICT (id) DO NOTHING RETURNING id`,
        part.flatMap((j) => [
          j.id,
          j.channel,
          j.userId,
          j.notificationId,
          j.target,
          j.notBefore,
          j.payload,
          now,
          now,
        ]),
      );
      for (const r of rows) fresh.add(r.id);
    }
    return jobs.filter((j) => fresh.has(j.id)).map((j) => j.id);
  }

  async claim(owner: string, now: number, leaseUntil: number, limit: number): Promise<Job[]> {
    const rows = await this.exec.rows<JobRow>(this.claimSql(), [
      owner,
      leaseUntil,
      now,
      now,
      limit,
    ]);
    return rows.map(toJob).sort((a, b) => a.notBefore - b.notBefore);
  }

  private finish(
    id: string,
    owner: string,
    state: JobState,
    error: string | null,
    now: number,
  ): Promise<boolean> {
    return this.exec
      .run(
        `UPDATE ${this.t.jobs} SET state = ?, last_error = ?, updated_at = ?, lease_owner = NULL,
           lease_until = 0, attempts = attempts + 1
         WHERE id = ? AND lease_owner = ? AND state = 'pending'`,
        [state, error, now, id, owner],
      )
      .then((n) => n > 0);
  }

  complete(id: string, owner: string, now: number): Promise<boolean> {
    return this.finish(id, owner, 'sent', null, now);
  }

  fail(id: string, owner: string, error: string, now: number): Promise<boolean> {
    return this.finish(id, owner, 'failed', error, now);
  }

  async skip(id: string, owner: string, reason: string, now: number): Promise<boolean> {
    const n = await this.exec.run(
      `UPDATE ${this.t.jobs} SET state = 'skipped', last_error = ?, updated_at = ?,
         lease_owner = NULL, lease_until = 0
       WHERE id = ? AND lease_owner = ? AND state = 'pending'`,
      [reason, now, id, owner],
    );
    return n > 0;
  }

  async retry(
    id: string,
    owner: string,
    notBefore: number,
    error: string,
    now: number,
  ): Promise<boolean> {
    const n = await this.exec.run(
      `UPDATE ${this.t.jobs} SET not_before = ?, last_error = ?, updated_at = ?,
         lease_owner = NULL, lease_until = 0, attempts = attempts + 1
       WHERE id = ? AND lease_owner = ? AND state = 'pending'`,
      [notBefore, error, now, id, owner],
    );
    return n > 0;
  }

  async get(id: string): Promise<Job | undefined> {
    const rows = await this.exec.rows<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM ${this.t.jobs} WHERE id = ?`,
      [id],
    );
    return rows[0] ? toJob(rows[0]) : undefined;
  }

  async list(filter: JobFilter, limit: number): Promise<Job[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (column: string, value: string | undefined) => {
      if (value === undefined) return;
      where.push(`${column} = ?`);
      params.push(value);
    };
    add('state', filter.state);
    add('user_id', filter.userId);
    add('notification_id', filter.notificationId);
    add('channel', filter.channel);
    const rows = await this.exec.rows<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM ${this.t.jobs}
       ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY updated_at DESC, id LIMIT ?`,
      [...params, limit],
    );
    return rows.map(toJob);
  }

  async jobCounts(): Promise<{ channel: string; state: JobState; count: number }[]> {
    const rows = await this.exec.rows<{ channel: string; state: string; n: number | string }>(
      `SELECT channel, state, COUNT(*) AS n FROM ${this.t.jobs} GROUP BY channel, state`,
      [],
    );
    return rows.map((r) => ({
      channel: r.channel,
      state: r.state as JobState,
      count: Number(r.n),
    }));
  }

  trim(before: number): Promise<number> {
    return this.exec.run(`DELETE FROM ${this.t.jobs} WHERE state <> 'pending' AND updated_at < ?`, [
      before,
    ]);
  }

  async putSubscription(s: PushSubscription): Promise<void> {
    // A device that subscribes again (new keys, or now for another user) replaces its row.
    await this.exec.run(
      `INSERT INTO ${this.t.subscriptions} (id, user_id, endpoint, p256dh, auth, created_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, endpoint = excluded.endpoint,
         p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at`,
      [s.id, s.userId, s.endpoint, s.p256dh, s.auth, s.createdAt],
    );
  }

  async deleteSubscription(userId: string, id: string): Promise<boolean> {
    const n = await this.exec.run(
      `DELETE FROM ${this.t.subscriptions} WHERE user_id = ? AND id = ?`,
      [userId, id],
    );
    return n > 0;
  }

  async subscriptions(userId: string): Promise<PushSubscription[]> {
    const rows = await this.exec.rows<SubscriptionRow>(
      `SELECT * FROM ${this.t.subscriptions} WHERE user_id = ? ORDER BY created_at, id`,
      [userId],
    );
    return rows.map(toSubscription);
  }

  async subscriptionsOf(userIds: readonly string[]): Promise<Map<string, PushSubscription[]>> {
    const rows = await this.inLists<SubscriptionRow>(this.t.subscriptions, userIds);
    return group(rows.map(toSubscription));
  }

  async webhooksOf(userIds: readonly string[]): Promise<Map<string, Webhook[]>> {
    const rows = await this.inLists<WebhookRow>(this.t.webhooks, userIds);
    return group(rows.map(toWebhook));
  }

  /** Rows of `table` whose user_id is one of `userIds`, 500 ids per query. */
  private async inLists<T>(table: string, userIds: readonly string[]): Promise<T[]> {
    const unique = [...new Set(userIds)];
    const out: T[] = [];
    for (let i = 0; i < unique.length; i += 500) {
      const part = unique.slice(i, i + 500);
      out.push(
        ...(await this.exec.rows<T>(
          `SELECT * FROM ${table} WHERE user_id IN (${part.map(() => '?').join(', ')})
           ORDER BY created_at, id`,
          part,
        )),
      );
    }
    return out;
  }

  async subscription(id: string): Promise<PushSubscription | undefined> {
    const rows = await this.exec.rows<SubscriptionRow>(
      `SELECT * FROM ${this.t.subscriptions} WHERE id = ?`,
      [id],
    );
    return rows[0] ? toSubscription(rows[0]) : undefined;
  }

  async putWebhook(h: Webhook): Promise<void> {
    await this.exec.run(
      `INSERT INTO ${this.t.webhooks} (id, user_id, url, secret, created_at) VALUES (?, ?, ?, ?, ?)`,
      [h.id, h.userId, h.url, h.secret, h.createdAt],
    );
  }

  async deleteWebhook(userId: string, id: string): Promise<boolean> {
    const n = await this.exec.run(`DELETE FROM ${this.t.webhooks} WHERE user_id = ? AND id = ?`, [
      userId,
      id,
    ]);
    return n > 0;
  }

  async webhooks(userId: string): Promise<Webhook[]> {
    const rows = await this.exec.rows<WebhookRow>(
      `SELECT * FROM ${this.t.webhooks} WHERE user_id = ? ORDER BY created_at, id`,
      [userId],
    );
    return rows.map(toWebhook);
  }

  async webhook(id: string): Promise<Webhook | undefined> {
    const rows = await this.exec.rows<WebhookRow>(`SELECT * FROM ${this.t.webhooks} WHERE id = ?`, [
      id,
    ]);
    return rows[0] ? toWebhook(rows[0]) : undefined;
  }

  async preferences(userIds: readonly string[]): Promise<Map<string, DeliveryPreferences>> {
    const out = new Map<string, DeliveryPreferences>();
    const unique = [...new Set(userIds)];
    for (let i = 0; i < unique.length; i += 500) {
      const part = unique.slice(i, i + 500);
      const rows = await this.exec.rows<{ user_id: string; spec: string }>(
        `SELECT user_id, spec FROM ${this.t.preferences}
         WHERE user_id IN (${part.map(() => '?').join(', ')})`,
        part,
      );
      for (const r of rows) {
        out.set(
          r.user_id,
          Object.assign(
            {},
            DEFAULT_DELIVERY_PREFERENCES,
            JSON.parse(r.spec) as Partial<DeliveryPreferences>,
          ),
        );
      }
    }
    return out;
  }

  async putPreferences(userId: string, prefs: DeliveryPreferences, now: number): Promise<void> {
    await this.exec.run(
      `INSERT INTO ${this.t.preferences} (user_id, spec, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at`,
      [userId, JSON.stringify(prefs), now],
    );
  }

  async setting(key: string, value: string): Promise<string> {
    await this.exec.run(
      `INSERT INTO ${this.t.settings} (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
      [key, value],
    );
    const rows = await this.exec.rows<{ value: string }>(
      `SELECT value FROM ${this.t.settings} WHERE name = ?`,
      [key],
    );
    const row = rows[0];
    if (!row) throw new Error(`setting ${key} vanished after its insert`);
    return row.value;
  }

  async addCounts(increments: readonly CountIncrement[]): Promise<void> {
    if (increments.length === 0) return;
    const key = (c: CountIncrement) =>
      `${c.bucket}\u0000${c.category}\u0000${c.channel}\u0000${c.counter}`;
    const sorted = [...increments].sort((a, b) => (key(a) < key(b) ? -1 : 1));
    await this.exec.batch(
      sorted.map((c) => ({
        sql: `INSERT INTO ${this.t.stats} (bucket, category, channel, counter, count, sum_ms)
              VALUES (?, ?, ?, ?, ?, ?)
              ON CONFLICT (bucket, category, channel, counter) DO UPDATE SET
                count = ${this.t.stats}.count + excluded.count,
                sum_ms = ${this.t.stats}.sum_ms + excluded.sum_ms`,
        params: [c.bucket, c.category, c.channel, c.counter, c.count, c.sumMs],
      })),
    );
  }

  async stats(since: number, until: number): Promise<StatRow[]> {
    const rows = await this.exec.rows<StatDbRow>(
      `SELECT bucket, category, channel, counter, count, sum_ms FROM ${this.t.stats}
       WHERE bucket >= ? AND bucket < ? ORDER BY bucket, category, channel, counter`,
      [since, until],
    );
    return rows.map(toStat);
  }
}

function group<T extends { userId: string }>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of items) {
    const list = out.get(x.userId);
    if (list) list.push(x);
    else out.set(x.userId, [x]);
  }
  return out;
}

/** The columns of every table, in either dialect (`int` is INTEGER or bigint). */
export function deliveryDdl(t: DeliveryTables, int: string): string {
  return `
    CREATE TABLE IF NOT EXISTS ${t.jobs} (
      id text PRIMARY KEY,
      channel text NOT NULL,
      user_id text NOT NULL,
      notification_id text NOT NULL,
      target text NOT NULL,
      not_before ${int} NOT NULL,
      payload text NOT NULL,
      state text NOT NULL,
      attempts integer NOT NULL,
      last_error text,
      lease_owner text,
      lease_until ${int} NOT NULL,
      created_at ${int} NOT NULL,
      updated_at ${int} NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ${t.subscriptions} (
      id text PRIMARY KEY,
      user_id text NOT NULL,
      endpoint text NOT NULL,
      p256dh text NOT NULL,
      auth text NOT NULL,
      created_at ${int} NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ${t.webhooks} (
      id text PRIMARY KEY,
      user_id text NOT NULL,
      url text NOT NULL,
      secret text NOT NULL,
      created_at ${int} NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ${t.preferences} (
      user_id text PRIMARY KEY,
      spec text NOT NULL,
      updated_at ${int} NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ${t.settings} (
      name text PRIMARY KEY,
      value text NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ${t.stats} (
      bucket ${int} NOT NULL,
      category text NOT NULL,
      channel text NOT NULL,
      counter text NOT NULL,
      count ${int} NOT NULL,
      sum_ms ${int} NOT NULL,
      PRIMARY KEY (bucket, category, channel, counter)
    );`;
}

/** Index names are schema-local in PostgreSQL and file-local in SQLite: plain names do. */
export function deliveryIndexes(t: DeliveryTables): string {
  return `
    CREATE INDEX IF NOT EXISTS delivery_jobs_due ON ${t.jobs} (not_before) WHERE state = 'pending';
    CREATE INDEX IF NOT EXISTS delivery_jobs_by_update ON ${t.jobs} (updated_at);
    CREATE INDEX IF NOT EXISTS delivery_jobs_by_user ON ${t.jobs} (user_id, updated_at);
    CREATE INDEX IF NOT EXISTS delivery_jobs_by_notification ON ${t.jobs} (notification_id);
    CREATE INDEX IF NOT EXISTS delivery_subscriptions_by_user ON ${t.subscriptions} (user_id);
    CREATE INDEX IF NOT EXISTS delivery_webhooks_by_user ON ${t.webhooks} (user_id);`;
}
