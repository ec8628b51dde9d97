// Live JavaScript heap per idle stream, after a full garbage collection, for Herald and the
// plain Node floor (issue 22, target 3), started as the bench starts them (pinned to core 0).
// The bench's `users` scenario reports RSS, the target's measure; RSS also counts garbage
// that the collector has not reclaimed yet after the connection burst, and moves by about a
// KiB per stream between runs of the same build. The live heap does not: it is what each
// stream keeps.
//
//   node bench/tools/stream-heap.js [--streams 5000] [--only herald,floor]
//        [--cli packages/server/dist/cli.js]
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SubscriberPool } from '../lib/subscribers.js';
import { HeraldTarget, NodeFloorTarget } from '../lib/targets.js';

const { values: a } = parseArgs({
  options: {
    streams: { type: 'string', default: '5000' },
    only: { type: 'string', default: 'herald,floor' },
    cli: { type: 'string', default: 'packages/server/dist/cli.js' },
    port: { type: 'string', default: '19331' },
  },
});
const root = resolve(import.meta.dirname, '../..');
const streams = Number(a.streams);
const agent = pathToFileURL(join(import.meta.dirname, 'heap-agent.js')).href;
const nodeArgs = ['--expose-gc', '--import', agent];
// Where the agent writes; the servers inherit it from this process's environment.
const out = join(tmpdir(), `herald-heap-agent-${process.pid}.json`);
process.env.HEAP_AGENT_OUT = out;

/** The server's memory use after a full collection, read through the agent. */
async function measured(target) {
  rmSync(out, { force: true });
  process.kill(target.pid, 'SIGUSR2');
  const until = Date.now() + 10_000;
  while (!existsSync(out) || readFileSync(out, 'utf8') === '') {
    if (Date.now() > until) throw new Error(`${target.name}: no answer from the heap agent`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 50));
  return JSON.parse(readFileSync(out, 'utf8'));
}

const results = {};
for (const name of a.only.split(',')) {
  const port = Number(a.port);
  const target =
    name === 'herald'
      ? new HeraldTarget({ root, port, cli: a.cli, nodeArgs })
      : new NodeFloorTarget({ root, port, nodeArgs });
  await target.start();
  await target.mintTokens(streams);
  const spec = (i) => target.subscribe(target.userChannel(i), i);
  // A first round opened and closed: code compiled and caches sized before the baseline.
  const warm = new SubscriberPool(port);
  await warm.connect(200, spec, { concurrency: 100 });
  await warm.closeAll();
  await new Promise((r) => setTimeout(r, 500));
  const before = await measured(target);
  const pool = new SubscriberPool(port);
  const r = await pool.connect(streams, spec, { concurrency: 200 });
  await new Promise((res) => setTimeout(res, 1000));
  const after = await measured(target);
  results[name] = {
    streams: r.ok,
    heapBytesPerStream: Math.round((after.heapUsed - before.heapUsed) / r.ok),
  };
  console.log(
    `${target.label}: ${r.ok} streams, ${results[name].heapBytesPerStream} bytes of live heap each`,
  );
  await pool.closeAll();
  await target.stop();
  target.cleanup();
  rmSync(out, { force: true });
}
if (results.herald && results.floor) {
  const ratio = results.herald.heapBytesPerStream / results.floor.heapBytesPerStream;
  console.log(`Herald/floor: ${ratio.toFixed(2)}x`);
}
console.log(JSON.stringify(results));
