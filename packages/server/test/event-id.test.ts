import { describe, expect, it } from 'vitest';
import { newEventId } from '../src/hub/event-id.js';

describe('newEventId', () => {
  it('makes version 4 UUIDs, all distinct, across refills of its random pool', () => {
    const ids = Array.from({ length: 2000 }, () => newEventId());
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('uses every hex digit in every random position', () => {
    // 4,000 ids: a digit missing from one of the 30 random positions would be a bias.
    const ids = Array.from({ length: 4000 }, () => newEventId().replaceAll('-', ''));
    for (let pos = 0; pos < 32; pos++) {
      if (pos === 12 || pos === 16) continue; // version and variant
      const seen = new Set(ids.map((id) => id[pos]));
      expect(seen.size, `position ${pos}`).toBe(16);
    }
  });
});
