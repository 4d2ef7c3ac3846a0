// Module hooks for the capability tests: each `keruj:plugin/<interface>@…`
// import (which only exists inside a component) resolves to wit.js for that
// interface, whose functions ask `globalThis.fakeHost`.

export async function resolve(specifier, context, nextResolve) {
  const wit = /^keruj:plugin\/([a-z-]+)@/.exec(specifier);
  if (wit) {
    return { url: new URL(`./wit.js?interface=${wit[1]}`, import.meta.url).href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
