// The commit-msg check (scripts/git-hooks/commit-msg runs it): a subject of at most 72
// characters, then, when there is more, a blank line and the body. Messages git writes itself
// (merges, reverts, fixup!/squash!) pass as they are.
// Usage: node scripts/commit-msg.mjs <file with the message>
import { readFileSync } from 'node:fs';

const MAX_SUBJECT = 72;

/** The problems of a commit message (empty when it is fine). */
export function problems(message) {
  const lines = message
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\s+$/, ''));
  while (lines.length > 0 && lines[0] === '') lines.shift();
  const subject = lines[0] ?? '';
  if (subject === '') return ['the message is empty'];
  if (/^(Merge|Revert|fixup!|squash!|amend!) /.test(subject)) return [];
  const found = [];
  if (subject.length > MAX_SUBJECT) {
    found.push(`the subject is ${subject.length} characters; at most ${MAX_SUBJECT}`);
  }
  if (subject.endsWith('.')) found.push('the subject ends with a period');
  if (lines.length > 1 && lines[1] !== '') found.push('a blank line must follow the subject');
  return found;
}

if (process.argv[2]) {
  const found = problems(readFileSync(process.argv[2], 'utf8'));
  if (found.length > 0) {
    process.stderr.write(
      `commit-msg: ${found.join('; ')}.\n` +
        'Write the subject in the imperative ("Add ...", "Move ..."), then a blank line and the body.\n',
    );
    process.exit(1);
  }
}
