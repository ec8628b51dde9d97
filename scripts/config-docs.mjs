// Regenerates the option table in docs/configuration.md from packages/server/src/config.ts
// (via the build). Run `npm run docs:config` after adding an option; a test checks the table.
import { readFileSync, writeFileSync } from 'node:fs';
import { options } from '../packages/server/dist/config.js';

const file = new URL('../docs/configuration.md', import.meta.url);
const text = readFileSync(file, 'utf8');
const fmt = (v) =>
  Array.isArray(v)
    ? v.length
      ? `\`${v.join(',')}\``
      : '(empty)'
    : v === ''
      ? '(empty)'
      : `\`${v}\``;
const rows = Object.entries(options).map(
  ([name, o]) =>
    `| \`${name}\` | \`${o.env}\` | \`${o.flag}\` | ${o.kind} | ${fmt(o.default)} | ${o.doc.replace(/\|/g, '\\|')} |`,
);
const table = [
  '| option | env | flag | type | default | meaning |',
  '|---|---|---|---|---|---|',
  ...rows,
].join('\n');
const out = text.replace(
  /<!-- options:start -->[\s\S]*<!-- options:end -->/,
  `<!-- options:start -->\n${table}\n<!-- options:end -->`,
);
writeFileSync(file, out);
console.log(`docs/configuration.md: ${rows.length} options`);
