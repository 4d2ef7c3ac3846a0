#!/usr/bin/env node
// keruj-guest-build: `npm run build` in an app folder. See README.md.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { build, FEATURES } from './build.js';

const usage = `usage: keruj-guest-build [ENTRY] [-o OUT.wasm] [--no-fetch] [--disable FEATURE]... [--wit DIR]

  ENTRY          the app module (default: src/app.ts if present, else src/app.js)
  -o, --out      the component to write (default: dist/<package name>.wasm)
  --no-fetch     leave fetch() out (--disable http --disable fetch-event): for a
                 keruj-host that does not offer wasi:http; the SDK's \`http\`
                 helper (the keruj:plugin/http import) works either way
  --disable F    leave an engine feature out, one of: ${FEATURES.join(', ')}
  --wit DIR      the WIT folder (default: the SDK's)

Environment: KERUJ_GUEST_NO_FETCH=1 is the same as --no-fetch.`;

function packageName() {
  try {
    const name = JSON.parse(readFileSync('package.json', 'utf8')).name ?? '';
    return name.replace(/^@[^/]+\//, '') || 'app';
  } catch {
    return 'app';
  }
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      'no-fetch': { type: 'boolean', default: false },
      disable: { type: 'string', multiple: true, default: [] },
      wit: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  if (positionals.length > 1) throw new Error(`one entry module, got ${positionals.join(' ')}\n${usage}`);
  const { existsSync } = await import('node:fs');
  const entry = positionals[0] ?? (existsSync('src/app.ts') ? 'src/app.ts' : 'src/app.js');
  await build({
    entry,
    out: values.out ?? `dist/${packageName()}.wasm`,
    wit: values.wit,
    disable: values.disable,
    noFetch: values['no-fetch'] || process.env.KERUJ_GUEST_NO_FETCH === '1',
  });
}

main().catch((error) => {
  console.error(`keruj-guest-build: ${error.message}`);
  process.exit(1);
});
