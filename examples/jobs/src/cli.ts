#!/usr/bin/env node
import { createJobsApi } from './api.js';
import { JobsConfigError, loadJobsConfig } from './config.js';
import { startWorker } from './worker.js';

/** `jobs api`, `jobs worker`, or `jobs all` (both in one process). */
async function main(mode: string): Promise<void> {
  const config = loadJobsConfig();
  const closers: (() => Promise<void>)[] = [];
  if (mode === 'api' || mode === 'all') {
    const api = await createJobsApi(config);
    const port = await api.listen();
    console.log(JSON.stringify({ msg: 'jobs api listening', port }));
    closers.push(() => api.close());
  }
  if (mode === 'worker' || mode === 'all') {
    const w = await startWorker(config);
    console.log(JSON.stringify({ msg: 'jobs worker ready', concurrency: config.concurrency }));
    closers.push(() => w.close());
  }
  if (closers.length === 0) throw new JobsConfigError('usage: jobs api | worker | all');
  const stop = () => {
    // A graceful stop lets running jobs finish; a kill is survived too (jobs are taken over).
    Promise.all(closers.map((c) => c())).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main(process.argv[2] ?? 'all').catch((err: unknown) => {
  console.error(err instanceof JobsConfigError ? err.message : err);
  process.exit(1);
});
