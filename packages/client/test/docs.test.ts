import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (p: string) => readFileSync(new URL(p, import.meta.url), 'utf8');

function optionNames(source: string, iface: string): string[] {
  const body = source.slice(source.indexOf(`export interface ${iface}`));
  const block = body.slice(0, body.indexOf('\n}'));
  return [...block.matchAll(/^ {2}(\w+)\?:/gm)].map((m) => m[1]!);
}

describe('docs/client.md stays true', () => {
  const doc = read('../../../docs/client.md');

  it('lists every Herald option in its table', () => {
    const names = optionNames(read('../src/herald.ts'), 'HeraldOptions');
    expect(names.length).toBeGreaterThan(10);
    for (const n of names) expect(doc, n).toContain(`| \`${n}\` |`);
  });

  it('names every publisher option', () => {
    for (const n of optionNames(read('../src/publisher.ts'), 'PublisherOptions'))
      expect(doc, n).toContain(`\`${n}\``);
  });

  it('lists every client error code', () => {
    const src = read('../src/errors.ts');
    const codes = [...src.matchAll(/^ {2}\| '([a-z-]+)'/gm)].map((m) => m[1]!);
    expect(codes.length).toBeGreaterThan(5);
    for (const c of codes) expect(doc, c).toContain(`| \`${c}\` |`);
  });
});
