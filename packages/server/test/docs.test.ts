import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { options } from '../src/config.js';
import { errorCatalogue } from '../src/errors.js';

const root = resolve(import.meta.dirname, '../../..');
const read = (p: string) => readFileSync(resolve(root, p), 'utf8');

describe('docs stay true', () => {
  it('docs/errors.md lists every error code with its status and message, and nothing else', () => {
    const doc = read('docs/errors.md');
    const rows = [...doc.matchAll(/^\| `(HERALD_ERR_[A-Z_]+)` \| (\d{3}) \|.*\| (.*) \|$/gm)];
    const documented = new Map(rows.map((m) => [m[1], { status: Number(m[2]), message: m[3] }]));
    expect([...documented.keys()].sort()).toEqual(Object.keys(errorCatalogue).sort());
    for (const [code, spec] of Object.entries(errorCatalogue)) {
      expect(documented.get(code), code).toEqual({ status: spec.status, message: spec.message });
    }
  });

  it('docs/configuration.md lists every option with its env var, flag and default', () => {
    const doc = read('docs/configuration.md');
    for (const [name, o] of Object.entries(options)) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
      expect(row, name).toBeDefined();
      expect(row).toContain(`\`${o.env}\``);
      expect(row).toContain(`\`${o.flag}\``);
      const def = Array.isArray(o.default) ? o.default.join(',') : String(o.default);
      if (def !== '') expect(row).toContain(`\`${def}\``);
    }
  });

  it('the README starts with the two commands', () => {
    const readme = read('README.md');
    const head = readme.slice(0, 1500);
    expect(head).toContain('npm install');
    expect(head).toContain('npm start');
    expect(head).toContain('npm test');
  });
});
