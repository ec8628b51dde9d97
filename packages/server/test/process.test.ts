import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { RawSse } from './sse-client.js';
import { HERALD_CLI, spawnHerald, waitFor } from './helpers.js';

const run = promisify(execFile);
const CLI = HERALD_CLI;
const dirs: string[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'herald-proc-'));
  dirs.push(d);
  return d;
}

/** Starts `herald serve` as a real process and resolves with its port once it listens. */
async function serve(
  dataDir: string,
  extra: string[] = [],
): Promise<{ child: ChildProcess; port: number; out: () => string }> {
  return spawnHerald(['--data-dir', dataDir, ...extra], {
    HERALD_API_KEYS: 'process-test-key-0123456789',
  });
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the herald process', () => {
  it('drains on SIGTERM: streams get a shutdown event and retry hint, the store closes cleanly, exit 0', async () => {
    const dataDir = tempDir();
    const { child, port, out } = await serve(dataDir, ['--retry-ms', '777']);
    const { stdout: token } = await run(process.execPath, [
      CLI,
      'token',
      '--sub',
      'alice',
      '--data-dir',
      dataDir,
    ]);
    const c = await RawSse.open(`http://127.0.0.1:${port}/events/alice`, {
      authorization: `Bearer ${token.trim()}`,
    });
    await waitFor(() => c.of('connected').length === 1);
    const { stdout } = await run(
      process.execPath,
      [
        CLI,
        'publish',
        '--channel',
        'user:alice',
        '--type',
        'hello',
        '--url',
        `http://127.0.0.1:${port}`,
        '{"n":1}',
      ],
      {
        env: { ...process.env, HERALD_API_KEY: 'process-test-key-0123456789' },
      },
    );
    expect(JSON.parse(stdout).ids).toHaveLength(1);
    await waitFor(() => c.of('hello').length === 1);
    expect(c.of('hello')[0]!.data).toBe('{"n":1}');

    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await waitFor(() => c.ended);
    expect(c.of('shutdown')).toHaveLength(1);
    expect(c.raw.endsWith('retry: 777\n\n')).toBe(true);
    // A clean close checkpoints the WAL into the database file.
    const wal = join(dataDir, 'herald.db-wal');
    expect(!existsSync(wal) || statSync(wal).size === 0).toBe(true);
    expect(out()).toContain('shutdown complete');
    expect(out()).not.toContain(token.trim());
  });

  it('mints tokens with the local secret that the server accepts, and publish uses them', async () => {
    const dataDir = tempDir();
    const { child, port } = await serve(dataDir);
    try {
      const { stdout: token } = await run(process.execPath, [
        CLI,
        'token',
        '--sub',
        'bob',
        '--channels',
        'room:*',
        '--data-dir',
        dataDir,
      ]);
      const c = await RawSse.open(
        `http://127.0.0.1:${port}/events?channels=room:1,user:bob&token=${token.trim()}`,
      );
      await waitFor(() => c.of('connected').length === 1);
      // No HERALD_API_KEY: `herald publish` mints a short-lived publish token from the data dir.
      const env = { ...process.env };
      delete env['HERALD_API_KEY'];
      await run(
        process.execPath,
        [
          CLI,
          'publish',
          '--channel',
          'room:1',
          '--data-dir',
          dataDir,
          '--url',
          `http://127.0.0.1:${port}`,
          'plain text',
        ],
        { env },
      );
      await waitFor(() => c.of('message').length === 1);
      expect(JSON.parse(c.of('message')[0]!.data)).toBe('plain text');
      c.close();
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('refuses dev mode with NODE_ENV=production and bad configuration with a clear message', async () => {
    const dataDir = tempDir();
    const prod = await run(process.execPath, [CLI, 'serve', '--dev', '--data-dir', dataDir], {
      env: { ...process.env, NODE_ENV: 'production' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect((prod as { code: number }).code).toBe(2);
    expect((prod as { stderr: string }).stderr).toContain(
      'dev mode refuses to run with NODE_ENV=production',
    );
    const bad = await run(process.execPath, [CLI, 'serve', '--port', 'eighty']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((bad as { code: number }).code).toBe(2);
    expect((bad as { stderr: string }).stderr).toContain('--port: expected an integer');
  });

  // Linux only: elsewhere lowerHelperThreads does nothing, and /proc does not exist.
  it.skipIf(process.platform !== 'linux')(
    'lowers every thread but the event loop to the configured nice level, or leaves them with 0',
    async () => {
      const levels = (pid: number) =>
        readdirSync(`/proc/${pid}/task`).flatMap((name) => {
          try {
            return [[Number(name), getPriority(Number(name))] as const];
          } catch {
            return []; // the thread ended meanwhile
          }
        });
      const base = getPriority(process.pid);
      const lowered = await serve(tempDir(), ['--helper-thread-nice', '17']);
      const asIs = await serve(tempDir(), ['--helper-thread-nice', '0']);
      try {
        const pid = lowered.child.pid!;
        // Listening comes first; the first pass right after it, so give it a moment.
        await waitFor(
          () => levels(pid).every(([tid, nice]) => tid === pid || nice === Math.max(17, base)),
          5000,
          'helper threads lowered',
        );
        const threads = levels(pid);
        // The checkpoint thread and V8's workers at least.
        expect(threads.length).toBeGreaterThan(3);
        expect(threads.find(([tid]) => tid === pid)?.[1]).toBe(base);
        const same = levels(asIs.child.pid!);
        expect(same.length).toBeGreaterThan(3);
        expect(same.every(([, nice]) => nice === base)).toBe(true);
      } finally {
        lowered.child.kill('SIGTERM');
        asIs.child.kill('SIGTERM');
      }
    },
  );

  it('warns loudly in dev mode', async () => {
    const dataDir = tempDir();
    const { child, out } = await serve(dataDir, ['--dev']);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    expect(out()).toContain('DEVELOPMENT MODE');
  });
});
