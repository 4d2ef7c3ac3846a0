// The app's shape and the adapter between it and the WIT world `app`: the
// author writes `export default app({ handle, health })`; the build's entry
// turns that into the `handleEvent` and `health` exports.

import { KerujError } from './error.js';
import { eventFromBody, webhooksFromBody } from './event.js';
import { Form } from './form.js';

export { KerujError };

/** Answer to an event that is handled: Keruj gets 200 with an empty body. */
export const done = Object.freeze({ done: true });


/** Declares the app: `handle(ctx, event)` answers events, `health()` is optional. */
export function app(definition) {
  if (!definition || typeof definition.handle !== 'function') {
    throw new TypeError('app({ handle(ctx, event) { ... } }): `handle` must be a function');
  }
  if (definition.health !== undefined && typeof definition.health !== 'function') {
    throw new TypeError('app({ health }): `health` must be a function when given');
  }
  return Object.freeze({ __kerujApp: true, handle: definition.handle, health: definition.health });
}

function message(error) {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : String(error);
}

/**
 * The WIT exports for `definition`. `logError` receives unexpected errors'
 * stacks, since a plugin's stderr goes nowhere.
 */
export function exportsOf(definition, logError = () => {}) {
  if (!definition || definition.__kerujApp !== true) {
    throw new TypeError('the app module must `export default app({ handle(ctx, event) { ... } })`');
  }
  const fail = (error) => {
    if (!(error instanceof KerujError) && error instanceof Error && error.stack) {
      logError(`${error.name}: ${error.message}\n${error.stack}`);
    }
    return { tag: 'err', val: message(error) };
  };
  async function handleEvent(event) {
    let body;
    try {
      body = JSON.parse(event.body);
    } catch (error) {
      return { tag: 'err', val: `the host sent a body that is not JSON: ${message(error)}` };
    }
    const ctx = Object.freeze({
      companyId: event.companyId,
      accountId: event.accountId,
      eventName: event.name,
      webhooks: webhooksFromBody(body),
    });
    try {
      // `handle` may be async (say, to await `fetch`); the bindings await it.
      const reply = await definition.handle(ctx, eventFromBody(event.name, body));
      return { tag: 'ok', val: outcome(reply) };
    } catch (error) {
      return fail(error);
    }
  }
  async function health() {
    try {
      await definition.health?.();
      return { tag: 'ok', val: undefined };
    } catch (error) {
      return fail(error);
    }
  }
  return { handleEvent, health };
}

function outcome(reply) {
  if (reply === done) return { tag: 'done' };
  if (reply instanceof Form) return { tag: 'reply', val: reply.validate().toJson() };
  throw new KerujError(`handle returned ${reply === undefined ? 'nothing' : typeof reply}: return \`done\` or a Form`);
}
