// Measures inbox reads on a SQLite file holding 1,000,000 notifications (docs/inbox.md,
// "How big an inbox can get"). Run after a build:
//   npm run build && node scripts/inbox-paging.mjs [rows]
// Rows are generated with one transaction of prepared inserts; the reads then go through
// the real SqliteInbox (the code the routes call), timed over many runs.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteInbox } from '../packages/server/dist/inbox/sqlite.js';
import { SqliteStore } from '../packages/server/dist/store/sqlite.js';

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const BIG = TOTAL / 2; // one inbox holds half of all rows: the worst case
const USERS = 5_000; // the other half: 5,000 inboxes
const PER_USER = (TOTAL - BIG) / USERS;
const CATEGORIES = ['ci', 'billing', 'social', 'security', 'ops', 'news', 'chat', 'hr'];
const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'];

const dir = mkdtempSync(join(tmpdir(), 'herald-inbox-paging-'));
const store = new SqliteStore({ path: join(dir, 'herald.db') });
await store.init();
const inbox = new SqliteInbox(store.database);
await inbox.init();
const db = store.database;

const insert = db.prepare(`INSERT INTO inbox_notifications
  (id, owner, title, body, data, category, priority, severity, url, template, created_at,
   updated_at, expires_at, deliver_at, status, event_type, durable, muted, collapse_key,
   collapsed_count, dedup_key, read_at, seen_at, acked_at, acked_by, archived_at)
  VALUES (?, ?, ?, ?, NULL, ?, ?, ?, NULL, NULL, ?, ?, NULL, NULL, 'delivered', 'notification',
          1, 0, NULL, 0, NULL, ?, ?, NULL, NULL, NULL)`);
const start = Date.now() - TOTAL * 10;
let n = 0;
const row = (owner, i) => {
  n++;
  const t = start + n * 10;
  const read = i % 2 === 0 ? t + 5 : null; // half of every inbox is read
  insert.run(
    `n-${n.toString(36).padStart(8, '0')}`,
    owner,
    `Build ${n} of project ${n % 97} finished`,
    'The pipeline ran all 312 tests; artifacts are ready.',
    CATEGORIES[n % CATEGORIES.length],
    i % 10 === 0 ? 'high' : 'normal',
    i % 20 === 0 ? SEVERITIES[n % SEVERITIES.length] : null,
    t,
    t,
    read,
    read,
  );
};
let t0 = performance.now();
db.transaction(() => {
  // Interleaved in time, as real traffic is: the big inbox's rows are spread over the table.
  let big = 0;
  let other = 0;
  while (big < BIG || other < TOTAL - BIG) {
    if (big < BIG) row('user:big', big++);
    if (other < TOTAL - BIG) {
      row(`user:u${other % USERS}`, Math.floor(other / USERS));
      other++;
    }
  }
})();
const insertMs = performance.now() - t0;
db.pragma('wal_checkpoint(TRUNCATE)');
db.exec('ANALYZE');

/** Median and 99th percentile of `runs` calls, in ms. */
async function time(fn, runs = 200) {
  for (let i = 0; i < 5; i++) await fn(); // warm the page cache
  const out = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  out.sort((a, b) => a - b);
  return { p50: out[Math.floor(runs / 2)], p99: out[Math.floor(runs * 0.99)] };
}

const now = Date.now() + 1000;
const bigScope = { kind: 'user', userId: 'big' };
const userScope = { kind: 'user', userId: 'u4242' };
// A cursor in the middle of the big inbox.
const [mid] = await inbox.list(bigScope, {}, 1, { createdAt: start + TOTAL * 5, id: 'z' }, now);
const middle = { createdAt: mid.createdAt, id: mid.id };

const big = BIG.toLocaleString('en');
const half = (BIG / 2).toLocaleString('en');
const cases = [
  [`first page (50), inbox of ${big}`, () => inbox.list(bigScope, {}, 50, undefined, now)],
  [
    `page ${(BIG / 100).toLocaleString('en')} (after a cursor), inbox of ${big}`,
    () => inbox.list(bigScope, {}, 50, middle, now),
  ],
  [
    `unread only, first page, inbox of ${big}`,
    () => inbox.list(bigScope, { read: false }, 50, undefined, now),
  ],
  [
    `one category, first page, inbox of ${big}`,
    () => inbox.list(bigScope, { categories: ['security'] }, 50, undefined, now),
  ],
  [`first page (50), inbox of ${PER_USER}`, () => inbox.list(userScope, {}, 50, undefined, now)],
  [`summary, inbox of ${PER_USER}`, () => inbox.summaries([userScope], now)],
  [
    `title search "project 42", inbox of ${PER_USER}`,
    () => inbox.list(userScope, { titleContains: 'project 42' }, 50, undefined, now),
  ],
  [
    `summaries of 500 inboxes of ${PER_USER} (one batch)`,
    () =>
      inbox.summaries(
        Array.from({ length: 500 }, (_, i) => ({ kind: 'user', userId: `u${i}` })),
        now,
      ),
  ],
  [`summary, inbox of ${big} (${half} unread)`, () => inbox.summaries([bigScope], now), 20],
  [
    `title search "project 42", inbox of ${big}`,
    () => inbox.list(bigScope, { titleContains: 'project 42' }, 50, undefined, now),
    20,
  ],
  [
    `title search without a match, inbox of ${big} (a full scan)`,
    () => inbox.list(bigScope, { titleContains: 'zebra' }, 50, undefined, now),
    10,
  ],
];

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const size = statSync(join(dir, 'herald.db')).size;
console.log(
  `${TOTAL.toLocaleString('en')} notifications (one inbox of ${BIG.toLocaleString('en')}, ` +
    `${USERS.toLocaleString('en')} of ${PER_USER}); inserted in ${(insertMs / 1000).toFixed(1)} s ` +
    `(one transaction); file ${(size / 2 ** 20).toFixed(0)} MiB`,
);
console.log(
  `${cpu}, ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n`,
);
console.log('| read | median | p99 |');
console.log('|---|---|---|');
for (const [name, fn, runs] of cases) {
  const r = await time(fn, runs);
  console.log(`| ${name} | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms |`);
}
await store.close();
rmSync(dir, { recursive: true, force: true });
