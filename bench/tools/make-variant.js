// Builds an experimental copy of the compiled server with proposed hot-path changes, so the
// bench can measure them before anyone edits packages/server/src:
//
//   npm run build
//   node bench/tools/make-variant.js --coalesce-writes --group-commit
//   node bench/run.js --only herald --label variant \
//     --herald-cli bench/.work/variants/coalesce-writes+group-commit/dist/cli.js
//
// --coalesce-writes (proposed for packages/server/src/sse/session.ts): the first write to a
//   session in a turn of the event loop corks its socket and puts the session on one shared
//   list; one setImmediate per turn uncorks every listed socket. All frames a connection
//   receives in that turn leave in one writev (one TCP segment when they fit); a lone frame
//   waits only until the end of the current turn: no timer, no added latency at light load.
// --group-commit (proposed for packages/server/src/store/sqlite.ts): appends requested in
//   one turn of the event loop are committed in one SQLite transaction at the end of the
//   turn, so the fixed cost of a commit (WAL frame writes, locks) is paid once per turn
//   instead of once per publish request. Each request still gets its own result, in order.
// --no-autocheckpoint (experiment, not a proposal on its own): the main connection never
//   checkpoints the WAL, to show how much of the tail latency SQLite's automatic checkpoint
//   (page copy plus fsync, on the event loop) causes. A real change moves the checkpoint to a
//   worker thread with its own connection; this variant lets the WAL grow for the run.
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'coalesce-writes': { type: 'boolean', default: false },
    'group-commit': { type: 'boolean', default: false },
    'no-autocheckpoint': { type: 'boolean', default: false },
  },
});
const chosen = Object.entries(values)
  .filter(([, on]) => on)
  .map(([name]) => name);
if (chosen.length === 0) {
  console.error(
    'usage: make-variant.js [--coalesce-writes] [--group-commit] [--no-autocheckpoint]',
  );
  process.exit(2);
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const out = join(root, 'bench/.work/variants', chosen.join('+'));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(join(root, 'packages/server/dist'), join(out, 'dist'), { recursive: true });
// Resolve the server's own dependencies (better-sqlite3 is not hoisted) from the copy.
if (existsSync(join(root, 'packages/server/node_modules'))) {
  symlinkSync(join(root, 'packages/server/node_modules'), join(out, 'node_modules'));
}

function patch(rel, edits) {
  const file = join(out, 'dist', rel);
  let src = readFileSync(file, 'utf8');
  for (const [from, to] of edits) {
    if (!src.includes(from)) throw new Error(`${rel} changed; anchor not found:\n${from}`);
    src = src.replace(from, to);
  }
  writeFileSync(file, src);
}

if (values['coalesce-writes']) {
  patch('sse/session.js', [
    [
      "import { HEARTBEAT } from './frame.js';",
      `import { HEARTBEAT } from './frame.js';
/** Sessions whose socket is corked in this loop turn; one setImmediate uncorks them all. */
const corked = [];
let flushScheduled = false;
function uncorkAll() {
    flushScheduled = false;
    const list = corked.splice(0);
    for (const s of list) s.uncork();
}`,
    ],
    [
      `        const ok = this.res.write(chunk);
        if (!ok && this.res.writableLength > this.budget) {`,
      `        if (!this.isCorked) {
            const socket = this.res.socket;
            if (socket) {
                this.isCorked = true;
                socket.cork();
                corked.push(this);
                if (!flushScheduled) {
                    flushScheduled = true;
                    setImmediate(uncorkAll);
                }
            }
        }
        const ok = this.res.write(chunk);
        if (!ok && this.res.writableLength > this.budget) {`,
    ],
    [
      `    /** True when unsent data passed half the budget`,
      `    isCorked = false;
    uncork() {
        if (!this.isCorked)
            return;
        this.isCorked = false;
        this.res.socket?.uncork();
    }
    /** True when unsent data passed half the budget`,
    ],
    // A stream that ends (shutdown, token expiry, replay bound) sends what is corked first.
    [
      `        if (reason === 'slow-consumer' || reason === 'error')
            this.res.destroy();
        else
            this.res.end();`,
      `        if (reason === 'slow-consumer' || reason === 'error')
            this.res.destroy();
        else {
            this.uncork();
            this.res.end();
        }`,
    ],
  ]);
}

if (values['group-commit']) {
  patch('store/sqlite.js', [
    [
      `    async append(events) {
        const { nextSeq, insert } = this.statements;
        return this.db.transaction(() => events.map((e) => {`,
      `    append(events) {
        return new Promise((resolve, reject) => {
            this.group ??= [];
            this.group.push({ events, resolve, reject });
            if (this.group.length === 1)
                setImmediate(() => this.commitGroup());
        });
    }
    commitGroup() {
        const group = this.group;
        this.group = [];
        try {
            const results = this.db.transaction(() => group.map((g) => this.appendNow(g.events)))();
            group.forEach((g, i) => g.resolve(results[i]));
        }
        catch {
            // One failing request must not fail the others: commit each alone.
            for (const g of group) {
                try {
                    g.resolve(this.db.transaction(() => this.appendNow(g.events))());
                }
                catch (err) {
                    g.reject(err);
                }
            }
        }
    }
    appendNow(events) {
        const { nextSeq, insert } = this.statements;
        return (() => events.map((e) => {`,
    ],
  ]);
}

if (values['no-autocheckpoint']) {
  patch('store/sqlite.js', [
    [
      "        this.db.pragma('busy_timeout = 5000');",
      "        this.db.pragma('busy_timeout = 5000');\n        this.db.pragma('wal_autocheckpoint = 0');",
    ],
  ]);
}

console.log(`variant written: ${out.slice(root.length + 1)}/dist/cli.js`);
