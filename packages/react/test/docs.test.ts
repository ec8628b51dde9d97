import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * docs/react.md's examples (every ```tsx block), type-checked with tsc against the built
 * @herald/react and React's types, as a user's project would compile them.
 */

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');

describe('docs/react.md', () => {
  const doc = readFileSync(join(root, 'docs/react.md'), 'utf8');
  const blocks = [...doc.matchAll(/```tsx\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it('has an example for every hook', () => {
    const all = blocks.join('\n');
    for (const name of [
      'HeraldProvider',
      'useHeraldApi',
      'useHerald',
      'useChannel',
      'useEvents',
      'useNotifications',
      'useUnreadCount',
      'useAlertStream',
      'useStreamingText',
      'useVoteSSE',
      'useChatSSE',
      'useAISSE',
    ]) {
      expect(all, name).toMatch(new RegExp(`\\b${name}[<(]|<${name}\\b`));
    }
  });

  it('its examples compile against the built package', () => {
    expect(
      existsSync(join(root, 'packages/react/dist/index.d.ts')),
      'the package is built (npm run build)',
    ).toBe(true);
    // Inside the package, so that '@herald/react' and 'react' resolve as for a user.
    const dir = mkdtempSync(join(here, '../node_modules/.react-doc-'));
    try {
      const files = blocks.map((code, i) => {
        const file = join(dir, `example-${i}.tsx`);
        writeFileSync(file, code);
        return file;
      });
      // The provider's example renders an App of the reader's own.
      writeFileSync(join(dir, 'App.tsx'), 'export function App() { return null; }\n');
      const program = ts.createProgram([...files, join(dir, 'App.tsx')], {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        jsx: ts.JsxEmit.ReactJSX,
        lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
        types: [],
        skipLibCheck: true,
      });
      const problems = ts
        .getPreEmitDiagnostics(program)
        .map(
          (d) =>
            `${d.file ? d.file.fileName.slice(dir.length + 1) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
        );
      expect(problems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
