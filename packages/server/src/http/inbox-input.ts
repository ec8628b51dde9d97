import { HeraldError } from '../errors.js';
import {
  PRIORITIES,
  SEVERITIES,
  type InboxFilter,
  type PagePosition,
  type Preferences,
  type Priority,
  type Severity,
  type TemplateSpec,
} from '../inbox/inbox-store.js';
import type { SendContent, SendOptions } from '../inbox/service.js';
import { isHttpUrl, isValidTemplateName, variableValues } from '../inbox/template.js';
import { eventType, optionalBoolean, requiredString } from './publish-input.js';

/**
 * Request parsing for the inbox routes: every field is checked here, once, with a 400 that
 * names it; nothing unchecked reaches the service or the store.
 */

/** Most ids one bulk request may name. */
export const MAX_IDS = 1000;
/** Longest dedup window a send may ask for: one week. */
const MAX_DEDUP_WINDOW_SEC = 7 * 24 * 3600;

function bad(detail: string): HeraldError {
  return new HeraldError('HERALD_ERR_BAD_REQUEST', detail);
}

function oneOf<T extends string>(value: unknown, name: string, choices: readonly T[]): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw bad(`"${name}" must be one of ${choices.join(', ')}`);
  }
  return value as T;
}

/** A list given as a JSON array or as comma-separated text (query strings). */
function list(value: unknown, name: string): string[] {
  const items = Array.isArray(value)
    ? value
    : typeof value === 'string'
      ? value.split(',').filter((s) => s !== '')
      : undefined;
  if (!items || !items.every((s) => typeof s === 'string' && s.length > 0 && s.length <= 128)) {
    throw bad(`"${name}" must be a list of strings (an array, or comma-separated)`);
  }
  return items as string[];
}

/** A boolean, also as the text `true`/`false`/`1`/`0` of a query string. */
function bool(value: unknown, name: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw bad(`"${name}" must be true or false`);
}

/** A time: ms since the epoch, or an ISO 8601 string. */
export function time(value: unknown, name: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
    if (Number.isSafeInteger(ms) && ms >= 0) return ms;
  }
  throw bad(`"${name}" must be an ISO 8601 time or milliseconds since the epoch`);
}

function key(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  return requiredString(value, name, 128);
}

/** The content and options of a send (`/notify`, `/broadcast`, `POST /notifications`). */
export function parseSend(body: Record<string, unknown>): {
  content: SendContent;
  options: SendOptions;
} {
  const message = body['message'] ?? body['body'];
  const templateName = body['template'];
  let content: SendContent;
  const extras = {
    category:
      body['category'] === undefined ? undefined : requiredString(body['category'], 'category', 64),
    priority:
      body['priority'] === undefined
        ? undefined
        : oneOf<Priority>(body['priority'], 'priority', PRIORITIES),
    severity:
      body['severity'] === undefined
        ? undefined
        : oneOf<Severity>(body['severity'], 'severity', SEVERITIES),
    // Only http(s): a javascript: or data: URL in a notification is a script injection.
    url: ((): string | undefined => {
      const url = body['url'];
      if (url === undefined) return undefined;
      if (!isHttpUrl(url)) throw bad('"url" must be an http(s) URL of at most 2048 characters');
      return url;
    })(),
    data: body['data'] === undefined ? undefined : JSON.stringify(body['data']),
    expiresAt: body['expiresAt'] === undefined ? undefined : time(body['expiresAt'], 'expiresAt'),
  };
  if (templateName !== undefined) {
    if (body['title'] !== undefined || message !== undefined) {
      throw bad('give either "template" (and "variables") or "title" and "message", not both');
    }
    if (typeof templateName !== 'string' || !isValidTemplateName(templateName)) {
      throw bad('"template" must be a template name');
    }
    // The spread last: see `storedAsNew` (a literal that starts with one is slow).
    content = {
      template: { name: templateName, variables: variableValues(body['variables']) },
      ...extras,
    };
  } else {
    content = {
      title: requiredString(body['title'], 'title', 200),
      body: requiredString(message, 'message', 10_000),
      ...extras,
    };
  }
  const window = body['dedupWindowSec'];
  if (
    window !== undefined &&
    (typeof window !== 'number' ||
      !Number.isInteger(window) ||
      window < 1 ||
      window > MAX_DEDUP_WINDOW_SEC)
  ) {
    throw bad(`"dedupWindowSec" must be an integer of 1-${MAX_DEDUP_WINDOW_SEC}`);
  }
  return {
    content,
    options: {
      deliverAt: body['deliverAt'] === undefined ? undefined : time(body['deliverAt'], 'deliverAt'),
      collapseKey: key(body['collapseKey'], 'collapseKey'),
      dedupKey: key(body['dedupKey'], 'dedupKey'),
      dedupWindowMs: typeof window === 'number' ? window * 1000 : undefined,
      eventType: eventType(body['type'], 'notification'),
      durable: optionalBoolean(body['durable'], 'durable', true),
    },
  };
}

/**
 * A filter from a query string or a JSON body: `unread`, `read`, `seen`, `acked`,
 * `archived` (true, false or `any`), `category`, `priority`, `minPriority`, `severity`,
 * `since`, `until`, `q` (title contains), `ids`, `status` (publishers only).
 */
export function parseFilter(
  src: Record<string, unknown>,
  defaults: { archived: boolean | undefined },
): InboxFilter {
  const f: {
    -readonly [K in keyof InboxFilter]: InboxFilter[K];
  } = {};
  if (src['unread'] !== undefined) f.read = !bool(src['unread'], 'unread');
  if (src['read'] !== undefined) f.read = bool(src['read'], 'read');
  if (src['seen'] !== undefined) f.seen = bool(src['seen'], 'seen');
  if (src['acked'] !== undefined) f.acked = bool(src['acked'], 'acked');
  const archived = src['archived'];
  if (archived === 'any') f.archived = undefined;
  else if (archived !== undefined) f.archived = bool(archived, 'archived');
  else f.archived = defaults.archived;
  if (src['category'] !== undefined) f.categories = list(src['category'], 'category');
  if (src['priority'] !== undefined) {
    f.priorities = list(src['priority'], 'priority').map((p) =>
      oneOf<Priority>(p, 'priority', PRIORITIES),
    );
  }
  if (src['minPriority'] !== undefined) {
    const min = PRIORITIES.indexOf(oneOf<Priority>(src['minPriority'], 'minPriority', PRIORITIES));
    const atLeast = PRIORITIES.slice(min);
    f.priorities = f.priorities ? f.priorities.filter((p) => atLeast.includes(p)) : atLeast;
  }
  if (src['severity'] !== undefined) {
    f.severities = list(src['severity'], 'severity').map((s) =>
      oneOf<Severity>(s, 'severity', SEVERITIES),
    );
  }
  if (src['since'] !== undefined) f.since = time(src['since'], 'since');
  if (src['until'] !== undefined) f.until = time(src['until'], 'until');
  if (src['q'] !== undefined) f.titleContains = requiredString(src['q'], 'q', 200);
  if (src['ids'] !== undefined) {
    const ids = list(src['ids'], 'ids');
    if (ids.length > MAX_IDS) throw bad(`at most ${MAX_IDS} ids`);
    f.ids = ids;
  }
  if (src['status'] !== undefined) {
    f.status = oneOf(src['status'], 'status', ['delivered', 'scheduled', 'any'] as const);
  }
  return f;
}

/** Page cursors are opaque to clients: base64url of `[createdAt, id]`. */
export function encodePageCursor(p: PagePosition): string {
  return Buffer.from(JSON.stringify([p.createdAt, p.id])).toString('base64url');
}

export function decodePageCursor(value: unknown): PagePosition | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    if (typeof value !== 'string' || value.length > 512) throw new Error('bad');
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      Number.isSafeInteger(parsed[0]) &&
      typeof parsed[1] === 'string'
    ) {
      return { createdAt: parsed[0] as number, id: parsed[1] };
    }
  } catch {
    // answered below
  }
  throw bad('"cursor" is not a cursor this server gave out');
}

export function pageLimit(value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) {
    throw bad(`"limit" must be an integer of 1-${max}`);
  }
  return n;
}

export function parseTemplate(body: Record<string, unknown>): TemplateSpec {
  const invalid = (detail: string) => new HeraldError('HERALD_ERR_TEMPLATE_INVALID', detail);
  const text = (v: unknown, name: string, max: number) => {
    if (typeof v !== 'string' || v.length === 0 || v.length > max) {
      throw invalid(`"${name}" must be a string of 1-${max} characters`);
    }
    return v;
  };
  const spec: { -readonly [K in keyof TemplateSpec]: TemplateSpec[K] } = {
    title: text(body['title'], 'title', 1000),
    body: text(body['message'] ?? body['body'], 'message', 20_000),
  };
  if (body['category'] !== undefined) spec.category = text(body['category'], 'category', 64);
  if (body['priority'] !== undefined) {
    if (!(PRIORITIES as readonly unknown[]).includes(body['priority'])) {
      throw invalid(`"priority" must be one of ${PRIORITIES.join(', ')}`);
    }
    spec.priority = body['priority'] as Priority;
  }
  if (body['severity'] !== undefined) {
    if (!(SEVERITIES as readonly unknown[]).includes(body['severity'])) {
      throw invalid(`"severity" must be one of ${SEVERITIES.join(', ')}`);
    }
    spec.severity = body['severity'] as Severity;
  }
  if (body['url'] !== undefined) spec.url = text(body['url'], 'url', 2048);
  return spec;
}

export function parsePreferences(body: Record<string, unknown>): Preferences {
  const muted = body['mutedCategories'] ?? [];
  if (
    !Array.isArray(muted) ||
    muted.length > 100 ||
    !muted.every((c) => typeof c === 'string' && c.length > 0 && c.length <= 64)
  ) {
    throw bad('"mutedCategories" must be an array of at most 100 categories');
  }
  const min = body['minPriority'] ?? 'low';
  return {
    mutedCategories: [...new Set(muted as string[])],
    minPriority: oneOf<Priority>(min, 'minPriority', PRIORITIES),
  };
}
