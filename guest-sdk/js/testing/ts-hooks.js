// Module hooks that let node 20 (no built-in type stripping) import .ts
// files: esbuild's transform strips the types (no type check: run `tsc
// --noEmit` for that) into an ES module. A relative import of `./x.js` that
// exists only as `./x.ts`, as TypeScript's own resolution writes it, loads
// the .ts file.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const TS = /\.(ts|mts|cts)$/;

export async function resolve(specifier, context, nextResolve) {
  const relative = specifier.startsWith('./') || specifier.startsWith('../');
  const parent = context.parentURL;
  if (relative && parent?.startsWith('file:') && /\.(js|mjs|cjs)$/.test(specifier)) {
    const url = new URL(specifier, parent);
    if (!existsSync(fileURLToPath(url))) {
      const ts = new URL(url.href.replace(/\.(m|c)?js$/, '.$1ts'));
      if (existsSync(fileURLToPath(ts))) return { url: ts.href, shortCircuit: true };
    }
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !TS.test(new URL(url).pathname)) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const { transform } = await import('esbuild');
  const { code } = await transform(await readFile(path, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
    sourcefile: path,
    sourcemap: 'inline',
  });
  return { format: 'module', source: code, shortCircuit: true };
}
