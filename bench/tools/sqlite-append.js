// Times the SQLite store's append alone: 2,000 channels (--channels), 100-byte events, N events per call.
//
//   node bench/tools/sqlite-append.js [--batch 50] [--calls 2000] [--callers 1] [--channels 2000]
//     [--store path/to/dist/store/sqlite.js] [--no-autocheckpoint]
//
// --callers C issues C appends in the same turn of the event loop and awaits them all, as C
// concurrent publish requests would (the store may commit them in one transaction); per-append
// times are then those of each caller, queueing included. --store times another build (a copy
// of an older dist, say) so an A/B runs on the same disk in the same minute. Uses the built
// store (packages/server/dist) on a temp dir on the machine's disk.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '50' },
    calls: { type: 'string', default: '2000' },
    callers: { type: 'string', default: '1' },
    channels: { type: 'string', default: '2000' },
    store: { type: 'string' },
    'no-autocheckpoint': { type: 'boolean', default: false },
  },
});
const storeUrl = values.store
  ? pathToFileURL(resolve(values.store)).href
  : new URL('../../packages/server/dist/store/sqlite.js', import.meta.url).href;
const { SqliteStore } = await import(storeUrl);
const dir = mkdtempSync(join(tmpdir(), 'herald-sqlite-'));
try {
  const store = new SqliteStore({ path: join(dir, 'herald.db') });
  await store.init();
  if (values['no-autocheckpoint']) store.database.pragma('wal_autocheckpoint = 0');
  const channels = Array.from({ length: Number(values.channels) }, (_, i) => `user:${i}`);
  await store.ensureChannels(channels);
  const batch = Number(values.batch);
  const calls = Number(values.calls);
  const callers = Number(values.callers);
  const data = 'x'.repeat(100);
  const times = [];
  let m = 0;
  const timed = async (events) => {
    const a = performance.now();
    await store.append(events);
    times.push(performance.now() - a);
  };
  const written0 = bytesWritten();
  const t0 = performance.now();
  for (let k = 0; k < calls; k += callers) {
    const turn = [];
    for (let c = 0; c < callers && k + c < calls; c++) {
      const events = [];
      for (let j = 0; j < batch; j++) {
        const channel = channels[m++ % channels.length];
        events.push({ id: crypto.randomUUID(), channel, type: 'message', data, ts: Date.now() });
      }
      turn.push(timed(events));
    }
    await Promise.all(turn);
  }
  const total = performance.now() - t0;
  const kibPerEvent = (bytesWritten() - written0) / 1024 / (calls * batch);
  times.sort((a, b) => a - b);
  const q = (x) => times[Math.min(times.length - 1, Math.floor(x * times.length))].toFixed(2);
  console.log(
    `batch ${batch}, ${callers} caller(s) per turn: ` +
      `${((total * 1000) / (calls * batch)).toFixed(1)} us/event; per append ` +
      `p50 ${q(0.5)} p99 ${q(0.99)} max ${times[times.length - 1].toFixed(1)} ms; ` +
      `${kibPerEvent.toFixed(2)} KiB written per event (WAL and checkpoints)`,
  );
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Bytes this process (event loop and checkpoint thread) passed to write(2) so far. */
function bytesWritten() {
  const line = readFileSync('/proc/self/io', 'utf8').match(/^wchar: (\d+)$/m);
  return line ? Number(line[1]) : NaN;
}
