import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

// The browser bundle, as an app's bundler would build it: everything from the package's
// entry, minified, no Node built-ins and no runtime dependency to mark external.
it('the browser bundle is at most 10 KB min+gzip, with no runtime dependency', async () => {
  const out = await build({
    entryPoints: [fileURLToPath(new URL('../src/index.ts', import.meta.url))],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
  });
  const code = out.outputFiles[0]!.contents;
  const gz = gzipSync(code, { level: 9 }).length;
  const inputs = Object.keys(out.metafile.inputs);
  expect(inputs.every((p) => p.includes('packages/client/src/'))).toBe(true);
  expect(inputs.some((p) => p.includes('publisher'))).toBe(false); // Node-only, not in the browser
  console.log(`browser bundle: ${code.length} B min, ${gz} B min+gzip`);
  expect(gz).toBeLessThanOrEqual(10 * 1024);
});
