// One WIT interface of the world `app`, played by `globalThis.fakeHost`
// (see hooks.js): every call goes to `fakeHost.call(interface, function, args)`.

const iface = new URL(import.meta.url).searchParams.get('interface');
const fn = (name) => (...args) => globalThis.fakeHost.call(iface, name, args);

export const write = fn('write');
export const get = fn('get');
export const set = fn('set');
const remove = fn('delete');
export { remove as delete };
export const keys = fn('keys');
export const all = fn('all');
export const send = fn('send');
export const graphql = fn('graphql');
export const add = fn('add');
export const cancel = fn('cancel');
export const mint = fn('mint');
export const revoke = fn('revoke');
