import assert from 'node:assert/strict';
import { test } from 'node:test';

import { KerujError } from '../src/app.js';
import { Delivery, Submission, eventFromBody, webhooksFromBody } from '../src/event.js';

test('system events by name', () => {
  assert.deepEqual(eventFromBody('application_install', { data: { a: 1 } }), { kind: 'install', data: { a: 1 } });
  assert.deepEqual(eventFromBody('application_install', {}), { kind: 'install', data: {} });
  assert.deepEqual(eventFromBody('application_configure', { data: { a: 1 } }), { kind: 'configure' });
  assert.deepEqual(eventFromBody('application_update', {}), { kind: 'update', data: {} });
  assert.deepEqual(eventFromBody('application_uninstall', {}), { kind: 'uninstall' });
});

test('a data object makes a submission; anything else is other', () => {
  const submitted = eventFromBody('name_submitted', { data: { name: '  Olena ' } });
  assert.ok(submitted instanceof Submission);
  assert.equal(submitted.kind, 'submit');
  assert.equal(submitted.name, 'name_submitted');
  assert.equal(submitted.text('name'), 'Olena');
  const body = { event: 'ping', data: [1] };
  assert.deepEqual(eventFromBody('ping', body), { kind: 'other', name: 'ping', body });
});

test('typed getters', () => {
  const s = new Submission('s', {
    blank: '  ', n: 42, ns: ' 4.5 ', bad: 'x', yes: true, on: 'on', no: false, city: 'kyiv', obj: { a: 1 },
  });
  assert.equal(s.text('blank'), undefined);
  assert.equal(s.text('n'), undefined);
  assert.equal(s.text('missing'), undefined);
  assert.equal(s.number('n'), 42);
  assert.equal(s.number('ns'), 4.5);
  assert.equal(s.number('bad'), undefined);
  assert.equal(s.number('blank'), undefined);
  assert.equal(s.checked('yes'), true);
  assert.equal(s.checked('on'), true);
  assert.equal(s.checked('no'), false);
  assert.equal(s.checked('missing'), false);
  assert.equal(s.choice('city', ['kyiv', 'lviv']), 'kyiv');
  assert.equal(s.choice('city', ['lviv']), undefined);
  assert.deepEqual(s.get('obj'), { a: 1 });
  assert.equal(s.get('toString'), undefined);
});

const schedule = { event: 'sync_orders', due: '2026-12-03T09:00:00Z', attempt: 2 };
const webhook = {
  name: 'status', id: 'd-1', method: 'POST', query: 'a=1&b=2',
  headers: [['Content-Type', 'application/json'], ['X-Seq', '1'], ['x-seq', '2']],
  body: '{"parcel": "2045", "status": "delivered"}',
};
const base = { company_id: 'co-1', account_id: 'acc-1' };

test('a schedule object makes a scheduled run', () => {
  const body = { event: 'sync_orders', ...base, schedule };
  // A sidecar [[schedule]]'s run: no id, no payload.
  assert.deepEqual(eventFromBody('sync_orders', body),
    { kind: 'scheduled', id: '', event: 'sync_orders', due: '2026-12-03T09:00:00Z', attempt: 2, payload: null });
  // Before the data rule.
  assert.equal(eventFromBody('sync_orders', { ...body, data: { a: 1 } }).kind, 'scheduled');
});

test("a run-time schedule's run carries its id and payload", () => {
  const payload = { order: 17, lines: [1, 2], note: null };
  const run = eventFromBody('follow_up', { schedule: { ...schedule, event: 'follow_up', id: 'sch-1', payload } });
  assert.deepEqual(run, { kind: 'scheduled', id: 'sch-1', event: 'follow_up', due: schedule.due, attempt: 2, payload });
  for (const value of [null, 0, 'x', [1]]) {
    assert.deepEqual(eventFromBody('e', { schedule: { ...schedule, id: 'sch-1', payload: value } }).payload, value);
  }
  // An id that is not text is no id, as in Rust.
  for (const id of ['', null, 7]) assert.equal(eventFromBody('e', { schedule: { ...schedule, id } }).id, '');
});

test('a webhook object makes a delivery, with header() and json()', () => {
  const d = eventFromBody('np_status', { event: 'np_status', ...base, webhook, data: { a: 1 } });
  assert.ok(d instanceof Delivery);
  assert.equal(d.kind, 'webhook');
  assert.deepEqual(
    { event: d.event, name: d.name, id: d.id, method: d.method, query: d.query, headers: d.headers, body: d.body },
    { event: 'np_status', ...webhook },
  );
  assert.equal(d.header('content-type'), 'application/json');
  assert.equal(d.header('X-SEQ'), '1');
  assert.equal(d.header('missing'), undefined);
  assert.deepEqual(d.json(), { parcel: '2045', status: 'delivered' });
  const text = eventFromBody('np_status', { webhook: { ...webhook, headers: [], body: 'not json' } });
  assert.throws(() => text.json(), (e) => e instanceof KerujError && e.message.startsWith("the delivery's body is not JSON: "));
  assert.equal(text.header('content-type'), undefined);
});

test("a delivery to a minted URL carries its label; the sidecar's URL, ''", () => {
  assert.equal(eventFromBody('np_status', { webhook }).label, '');
  assert.equal(eventFromBody('np_status', { webhook: { ...webhook, label: '' } }).label, '');
  assert.equal(eventFromBody('np_status', { webhook: { ...webhook, label: 'shop-17' } }).label, 'shop-17');
  // A label that is not text is no label, as in Rust.
  for (const label of [null, 17]) assert.equal(eventFromBody('np_status', { webhook: { ...webhook, label } }).label, '');
});

test('system events never become scheduled runs or deliveries', () => {
  assert.deepEqual(eventFromBody('application_configure', { schedule, webhook }), { kind: 'configure' });
  assert.deepEqual(eventFromBody('application_install', { schedule, webhook, data: { a: 1 } }), { kind: 'install', data: { a: 1 } });
  assert.deepEqual(eventFromBody('application_uninstall', { webhook }), { kind: 'uninstall' });
});

test('a malformed schedule or webhook object is other, never a throw', () => {
  const malformed = [
    { schedule: { ...schedule, attempt: -1 } },
    { schedule: { ...schedule, attempt: 2 ** 32 } },
    { schedule: { ...schedule, attempt: '1' } },
    { schedule: { ...schedule, attempt: 1.5 } },
    { schedule: { ...schedule, due: 1764752400 } },
    { schedule: { due: schedule.due, attempt: 1 }, data: { a: 1 } },
    { webhook: { ...webhook, headers: { 'content-type': 'application/json' } } },
    { webhook: { ...webhook, headers: [['content-type']] } },
    { webhook: { ...webhook, headers: [['x-n', 1]] } },
    { webhook: { ...webhook, body: { parcel: '2045' } } },
    { webhook: { name: 'status', id: 'd-1', method: 'POST', headers: [], body: '' } },
    { webhook: { ...webhook, id: 7 }, data: { a: 1 } },
  ];
  for (const body of malformed) {
    assert.deepEqual(eventFromBody('e', body), { kind: 'other', name: 'e', body }, JSON.stringify(body));
  }
  // Only an object counts, as in Rust: anything else leaves the data rule to decide.
  for (const body of [{ schedule: null }, { schedule: 'daily' }, { schedule: [schedule] }, { webhook: null }, { webhook: 'x' }]) {
    assert.deepEqual(eventFromBody('e', body), { kind: 'other', name: 'e', body }, JSON.stringify(body));
    assert.equal(eventFromBody('e', { ...body, data: { a: 1 } }).kind, 'submit', JSON.stringify(body));
  }
});

test('webhook URLs from the body', () => {
  assert.deepEqual(webhooksFromBody({}), {});
  assert.deepEqual(webhooksFromBody(null), {});
  assert.deepEqual(webhooksFromBody({ webhooks: ['x'] }), {});
  assert.deepEqual(webhooksFromBody({ webhooks: { status: 'https://h/hooks/A', bad: 1 } }), { status: 'https://h/hooks/A' });
  assert.ok(Object.isFrozen(webhooksFromBody({ webhooks: { status: 'u' } })));
});
