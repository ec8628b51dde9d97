// Loaded into a server under measurement (`node --expose-gc --import <this file> …`) by
// bench/tools/stream-heap.js: on SIGUSR2 it collects garbage fully, then writes the process's
// memory use to $HEAP_AGENT_OUT. Nothing else changes in the server.
import { writeFileSync } from 'node:fs';

const out = process.env.HEAP_AGENT_OUT;
if (out && typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    // Several passes: objects with finalizers or weak references go on a later one.
    for (let i = 0; i < 4; i++) globalThis.gc();
    writeFileSync(out, JSON.stringify(process.memoryUsage()));
  });
}
