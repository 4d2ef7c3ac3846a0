// One command from an app's source to a component for keruj-host: esbuild
// bundles the app with this SDK (TypeScript too), then componentize-js
// (StarlingMonkey) makes a component of the world `app` in guest-sdk/wit.

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SDK = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The WASI features componentize-js can leave out of the engine. */
export const FEATURES = ['stdio', 'random', 'clocks', 'http', 'fetch-event'];

/** The WIT folder: the package's own copy when published, else the repository's. */
export function defaultWit() {
  for (const candidate of [join(SDK, 'wit'), join(SDK, '..', 'wit')]) {
    if (existsSync(join(candidate, 'plugin.wit'))) return candidate;
  }
  throw new Error(`no WIT found next to the SDK (${SDK}/wit or ${SDK}/../wit)`);
}

/**
 * Builds `entry` (a module whose default export is `app({...})`) into the
 * component `out`. `disable` lists engine features to leave out: `http` and
 * `fetch-event` (what `noFetch` sets) for a host without `wasi:http`.
 * Returns `{ out, bytes }`.
 */
export async function build({ entry, out, wit = defaultWit(), disable = [], noFetch = false, quiet = false }) {
  if (!entry) throw new Error('no entry: name the app module (say src/app.js)');
  const entryPath = resolve(entry);
  if (!existsSync(entryPath)) throw new Error(`the app module ${entryPath} does not exist`);
  const features = [...new Set([...disable, ...(noFetch ? ['http', 'fetch-event'] : [])])];
  for (const feature of features) {
    if (!FEATURES.includes(feature)) {
      throw new Error(`unknown feature ${JSON.stringify(feature)}: one of ${FEATURES.join(', ')}`);
    }
  }
  const work = await mkdtemp(join(tmpdir(), 'keruj-guest-build-'));
  try {
    const bundle = join(work, 'app.bundle.js');
    await bundleApp(entryPath, bundle);
    const { componentize } = await tool('@bytecodealliance/componentize-js');
    const { component } = await componentize({
      sourcePath: bundle,
      witPath: resolve(wit),
      worldName: 'app',
      disableFeatures: features,
    });
    const target = resolve(out);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, component);
    const { size } = await stat(target);
    if (!quiet) {
      const note = features.length ? ` (without ${features.join(', ')})` : '';
      console.log(`built ${target}: ${(size / 1024 / 1024).toFixed(1)} MiB${note}`);
    }
    return { out: target, bytes: size };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The SDK's own build dependency `name`, or an error saying how to install
 * it: an app links this SDK from a checkout, whose node_modules it uses.
 */
async function tool(name) {
  try {
    return await import(name);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    const script = join(SDK, '..', '..', 'scripts', 'install-guest-tools');
    throw new Error(
      `${name} is not installed in ${join(SDK, 'node_modules')}: run ${script} ` +
        `(or \`npm ci\` in ${SDK}), then build again`,
    );
  }
}

/** One ES module: the app, the SDK and the entry that exports the world's functions. */
async function bundleApp(entryPath, bundle) {
  const esbuild = await tool('esbuild');
  const contents = [
    `import definition from ${JSON.stringify(entryPath)};`,
    `import { exportsOf } from ${JSON.stringify(join(SDK, 'src', 'app.js'))};`,
    `import { log } from ${JSON.stringify(join(SDK, 'src', 'capabilities.js'))};`,
    'const exported = exportsOf(definition, log.error);',
    'export const handleEvent = exported.handleEvent;',
    'export const health = exported.health;',
  ].join('\n');
  await esbuild.build({
    stdin: { contents, resolveDir: dirname(entryPath), sourcefile: 'keruj-entry.js', loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    external: ['keruj:*', 'wasi:*'],
    outfile: bundle,
    logLevel: 'warning',
  });
}
