// Module hooks for the capability tests: each `keruj:plugin/<interface>@…`
// import (which only exists inside a component) resolves to wit.js for that
// interface, whose functions ask `globalThis.fakeHost`. An import of another
// version than guest-sdk/wit's fails, as the component's build would.

import { readFileSync } from 'node:fs';

const wit = readFileSync(new URL('../../../wit/plugin.wit', import.meta.url), 'utf8');
const version = /^package keruj:plugin@([^;\s]+);/m.exec(wit)[1];

export async function resolve(specifier, context, nextResolve) {
  const imported = /^keruj:plugin\/([a-z-]+)@(.*)$/.exec(specifier);
  if (imported) {
    if (imported[2] !== version) throw new Error(`${specifier}: the WIT is keruj:plugin@${version}`);
    return { url: new URL(`./wit.js?interface=${imported[1]}`, import.meta.url).href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
