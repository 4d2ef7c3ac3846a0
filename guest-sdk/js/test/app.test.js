// The adapter between an app and the WIT exports, without a host: what the
// bindings receive for each kind of answer.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { KerujError, app, done, exportsOf } from '../src/app.js';
import { Form, text } from '../src/form.js';

const event = (name, body) => ({ name, companyId: 'co-1', accountId: 'acc-1', body: JSON.stringify(body) });

test('done, a form, an async answer', async () => {
  const form = new Form('r', 'T', { elements: [text('a', 'A')] });
  const { handleEvent } = exportsOf(app({
    handle: async (ctx, e) => (e.kind === 'configure' ? form : done),
  }));
  assert.deepEqual(await handleEvent(event('application_install', {})), { tag: 'ok', val: { tag: 'done' } });
  assert.deepEqual(await handleEvent(event('application_configure', {})), { tag: 'ok', val: { tag: 'reply', val: form.toJson() } });
});

test('the context names the company and the account', async () => {
  let seen;
  const { handleEvent } = exportsOf(app({ handle: (ctx) => { seen = ctx; return done; } }));
  await handleEvent(event('ping', {}));
  assert.deepEqual({ ...seen }, { companyId: 'co-1', accountId: 'acc-1', eventName: 'ping', webhooks: {} });
  assert.ok(Object.isFrozen(seen));
});

test('the context carries the webhook URLs, on configure too; events reach handle typed', async () => {
  const seen = [];
  const { handleEvent } = exportsOf(app({ handle: (ctx, e) => { seen.push([ctx, e]); return done; } }));
  const webhooks = { status: 'https://apps.example.com/hooks/A-1', paid: 'https://apps.example.com/hooks/B-2' };
  await handleEvent(event('application_configure', { event: 'application_configure', webhooks }));
  await handleEvent(event('sync_orders', {
    event: 'sync_orders', webhooks, schedule: { event: 'sync_orders', due: '2026-12-03T09:00:00Z', attempt: 1 },
  }));
  await handleEvent(event('np_status', {
    event: 'np_status', webhooks,
    webhook: { name: 'status', id: 'd-1', method: 'POST', query: '', headers: [['x-a', 'b']], body: '{}' },
  }));
  assert.deepEqual(seen.map(([ctx]) => ctx.webhooks), [webhooks, webhooks, webhooks]);
  assert.deepEqual(seen.map(([, e]) => e.kind), ['configure', 'scheduled', 'webhook']);
  assert.equal(seen[2][1].header('X-A'), 'b');
});

test('failures become the err the host logs; unexpected ones log their stack', async () => {
  const logged = [];
  const { handleEvent, health } = exportsOf(app({
    handle(ctx, e) {
      if (e.name === 'expected') throw new KerujError('no key yet');
      if (e.name === 'bug') return null.x;
      if (e.name === 'nothing') return undefined;
      return new Form('r', ' ');
    },
    health() { throw new KerujError('the store is down'); },
  }), (line) => logged.push(line));
  assert.deepEqual(await handleEvent(event('expected', {})), { tag: 'err', val: 'no key yet' });
  assert.equal(logged.length, 0);
  const bug = await handleEvent(event('bug', {}));
  assert.equal(bug.tag, 'err');
  assert.match(logged[0], /TypeError/);
  assert.deepEqual(await handleEvent(event('nothing', {})), { tag: 'err', val: 'handle returned nothing: return `done` or a Form' });
  assert.deepEqual(await handleEvent(event('bad-form', {})), { tag: 'err', val: 'invalid form: `title` is empty' });
  assert.deepEqual(await health(), { tag: 'err', val: 'the store is down' });
  assert.match((await handleEvent({ ...event('x', {}), body: 'nope' })).val, /not JSON/);
});

test('health defaults to ok; a wrong module is a clear error', async () => {
  assert.deepEqual(await exportsOf(app({ handle: () => done })).health(), { tag: 'ok', val: undefined });
  assert.throws(() => exportsOf({ handle() {} }), /export default app/);
  assert.throws(() => app({}), /`handle` must be a function/);
});
