// Times the SQLite store's append alone: 2,000 channels, 100-byte events, N events per call.
//
//   node bench/tools/sqlite-append.js [--batch 50] [--calls 2000] [--no-autocheckpoint]
//
// Uses the built store (packages/server/dist) on a temp dir on the machine's disk.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '50' },
    calls: { type: 'string', default: '2000' },
    'no-autocheckpoint': { type: 'boolean', default: false },
  },
});
const { SqliteStore } = await import(
  new URL('../../packages/server/dist/store/sqlite.js', import.meta.url).href
);
const dir = mkdtempSync(join(tmpdir(), 'herald-sqlite-'));
try {
  const store = new SqliteStore({ path: join(dir, 'herald.db') });
  await store.init();
  if (values['no-autocheckpoint']) store.db.pragma('wal_autocheckpoint = 0');
  const channels = Array.from({ length: 2000 }, (_, i) => `user:${i}`);
  await store.ensureChannels(channels);
  const batch = Number(values.batch);
  const calls = Number(values.calls);
  const data = 'x'.repeat(100);
  const times = [];
  let m = 0;
  const t0 = performance.now();
  for (let k = 0; k < calls; k++) {
    const events = [];
    for (let j = 0; j < batch; j++) {
      const channel = channels[m++ % channels.length];
      events.push({ id: crypto.randomUUID(), channel, type: 'message', data, ts: Date.now() });
    }
    const a = performance.now();
    await store.append(events);
    times.push(performance.now() - a);
  }
  const total = performance.now() - t0;
  times.sort((a, b) => a - b);
  const q = (x) => times[Math.min(times.length - 1, Math.floor(x * times.length))].toFixed(2);
  console.log(
    `batch ${batch}: ${((total * 1000) / (calls * batch)).toFixed(1)} us/event; per append ` +
      `p50 ${q(0.5)} p99 ${q(0.99)} max ${times[times.length - 1].toFixed(1)} ms`,
  );
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
