import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * docs/angular.md's example (and docs/react.md's short one), type-checked with tsc against the built @herald/client and the
 * real RxJS. Angular itself is not installed: small declarations stand in for the parts the
 * example uses (decorators, inject, OnDestroy, AsyncPipe), so what is checked is the
 * client's Observables meeting RxJS's `from()`.
 */

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');

const ANGULAR_STANDIN = `
declare module '@angular/core' {
  export function Component(meta: {
    selector: string;
    standalone?: boolean;
    imports?: unknown[];
    template: string;
  }): ClassDecorator;
  export function Injectable(meta?: { providedIn?: 'root' }): ClassDecorator;
  export function inject<T>(token: abstract new (...args: never[]) => T): T;
  export interface OnDestroy {
    ngOnDestroy(): void;
  }
}
declare module '@angular/common' {
  export class AsyncPipe {}
}
`;

/** The Angular examples: docs/angular.md's, and the short one in docs/react.md. */
const EXAMPLES = [
  { doc: 'docs/angular.md', after: '' },
  { doc: 'docs/react.md', after: '## Angular' },
];

describe('the Angular examples', () => {
  it.each(EXAMPLES)('$doc $after compiles against the built client and RxJS', ({ doc, after }) => {
    const text = readFileSync(join(root, doc), 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(text.slice(text.indexOf(after)))?.[1];
    expect(block, `a \`\`\`ts block in ${doc}`).toBeTruthy();
    expect(
      existsSync(join(root, 'packages/client/dist/index.d.ts')),
      'the client is built (npm run build)',
    ).toBe(true);
    // Inside the package, so that '@herald/client' and 'rxjs' resolve as for a user.
    const dir = mkdtempSync(join(here, '../node_modules/.angular-doc-'));
    try {
      writeFileSync(join(dir, 'example.mts'), block!);
      writeFileSync(join(dir, 'angular.d.ts'), ANGULAR_STANDIN);
      const program = ts.createProgram([join(dir, 'example.mts'), join(dir, 'angular.d.ts')], {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
        types: [],
        experimentalDecorators: true,
        skipLibCheck: true,
      });
      const problems = ts
        .getPreEmitDiagnostics(program)
        .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(problems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
