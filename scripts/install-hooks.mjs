// `npm install`'s prepare step: points git at scripts/git-hooks (the commit-msg check).
// It never fails the install: without git, or outside a git checkout (a tarball, a container
// build without .git), there is nothing to install and it says so.
import { spawnSync } from 'node:child_process';

const git = (...args) => spawnSync('git', args, { encoding: 'utf8' });
const inside = git('rev-parse', '--is-inside-work-tree');
if (inside.error || inside.status !== 0 || inside.stdout.trim() !== 'true') {
  console.log('hooks: not a git checkout; commit-msg hook not installed');
} else {
  const set = git('config', 'core.hooksPath', 'scripts/git-hooks');
  console.log(
    set.status === 0
      ? 'hooks: core.hooksPath = scripts/git-hooks (commit-msg check)'
      : `hooks: could not set core.hooksPath: ${set.stderr.trim()}`,
  );
}
