import { describe, expect, it } from 'vitest';
import { EVERYONE, storedAsNew, type StoredNotification } from '../src/inbox/inbox-store.js';
import { iso, notificationEventData, notificationView } from '../src/inbox/view.js';

// The live event's data is written out field by field (src/inbox/view.ts); it must be the
// very text of the view plus `sentAt`, for every shape of notification.
const base: StoredNotification = storedAsNew(
  {
    id: '01a2508c-dcc0-7606-a541-ad65dd987e62',
    owner: 'user:7',
    title: 'Build "42" done',
    body: 'line one\nline two \u2028 \ud800',
    priority: 'normal',
    createdAt: 1_765_000_000_123,
    eventType: 'notification',
    durable: true,
    muted: false,
  },
  'delivered',
);

const variants: [string, StoredNotification][] = [
  ['a plain one to a user', base],
  ['to everyone', { ...base, owner: EVERYONE }],
  ['to a channel', { ...base, owner: 'team:ops' }],
  [
    'every optional field',
    {
      ...base,
      category: 'builds',
      severity: 'high',
      url: 'https://example.com/b?x="1"',
      data: JSON.stringify({ s: 1, nested: { a: [1, 2.5, null, true] }, __proto__x: 'y' }),
      template: 'deploy',
      deliverAt: 1_765_000_100_000,
      expiresAt: 1_765_100_000_000,
      collapseKey: 'k"1',
      dedupKey: 'd\\2',
      collapsedCount: 3,
      updatedAt: 1_765_000_050_000,
    },
  ],
  ['data that is a string', { ...base, data: JSON.stringify('a\r\nb') }],
  ['data that is a number', { ...base, data: JSON.stringify(1e21) }],
  [
    'with state set',
    {
      ...base,
      muted: true,
      readAt: 1_765_000_001_000,
      seenAt: 1_765_000_002_000,
      ackedAt: 1_765_000_003_000,
      ackedBy: 'ops "lead"',
      archivedAt: 1_765_000_004_000,
      status: 'scheduled',
    },
  ],
];

describe('notificationEventData', () => {
  for (const [what, n] of variants) {
    it(`is the view plus sentAt, as JSON: ${what}`, () => {
      const expected = JSON.stringify({ ...notificationView(n), sentAt: iso(n.createdAt) });
      expect(notificationEventData(n)).toBe(expected);
    });
  }
});
