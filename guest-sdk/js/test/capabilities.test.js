// The capability helpers against a fake host: what each sends through the
// WIT imports, and what it makes of the answer. The headers-taking helpers
// have the same shape in the Rust and Python SDKs (see their tests).

import assert from 'node:assert/strict';
import { register } from 'node:module';
import { beforeEach, test } from 'node:test';

register('./fake-host/hooks.js', import.meta.url);
const { KerujError, http, kv, schedules, secrets, utf8Encode, webhooks } = await import('../src/index.js');

/** Records the calls; answers each from `answers[interface.function]`. */
let host;
beforeEach(() => {
  host = {
    calls: [],
    answers: {},
    call(iface, name, args) {
      this.calls.push({ call: `${iface}.${name}`, args });
      const answer = this.answers[`${iface}.${name}`];
      return typeof answer === 'function' ? answer(...args) : answer;
    },
  };
  globalThis.fakeHost = host;
});

const answer = (status, body, headers = [['content-type', 'application/json']]) =>
  ({ status, headers, body: utf8Encode(body) });
const sent = () => {
  const request = host.calls.filter((c) => c.call === 'http.send').at(-1).args[0];
  return { ...request, body: new TextDecoder().decode(request.body) };
};

test('getJson sends the headers, as an object or as pairs, and asks for JSON', () => {
  host.answers['http.send'] = answer(200, '{"id":7}');
  assert.deepEqual(http.getJson('https://a.example/me', { authorization: 'Bearer k' }), { id: 7 });
  assert.deepEqual(sent(), {
    method: 'GET',
    url: 'https://a.example/me',
    headers: [['authorization', 'Bearer k'], ['accept', 'application/json']],
    body: '',
  });
  http.getJson('https://a.example/me', [['authorization', 'Bearer k'], ['x-trace', 1]]);
  assert.deepEqual(sent().headers, [['authorization', 'Bearer k'], ['x-trace', '1'], ['accept', 'application/json']]);
  // Without headers: as before.
  http.getJson('https://a.example/me');
  assert.deepEqual(sent().headers, [['accept', 'application/json']]);
});

test('postJson sends the value as JSON with the headers', () => {
  host.answers['http.send'] = answer(201, '{"ok":true}');
  assert.deepEqual(http.postJson('https://a.example/p', { n: 1 }, { 'x-key': 'k' }), { ok: true });
  assert.deepEqual(sent(), {
    method: 'POST',
    url: 'https://a.example/p',
    headers: [['x-key', 'k'], ['accept', 'application/json'], ['content-type', 'application/json']],
    body: '{"n":1}',
  });
  http.postJson('https://a.example/p', [1]);
  assert.deepEqual(sent().headers, [['accept', 'application/json'], ['content-type', 'application/json']]);
});

test("the caller's header replaces a default of the same name, in any case", () => {
  host.answers['http.send'] = answer(200, '{}');
  http.postJson('https://a.example/p', {}, { Accept: 'application/vnd.api+json', 'Content-Type': 'application/merge-patch+json' });
  assert.deepEqual(sent().headers, [['Accept', 'application/vnd.api+json'], ['Content-Type', 'application/merge-patch+json']]);
});

test('get, post and send take headers too', () => {
  host.answers['http.send'] = answer(200, 'hi', [['ETag', '"x"']]);
  const response = http.get('https://a.example/', { authorization: 'Bearer k' });
  assert.deepEqual(sent(), { method: 'GET', url: 'https://a.example/', headers: [['authorization', 'Bearer k']], body: '' });
  assert.equal(response.text(), 'hi');
  assert.equal(response.header('etag'), '"x"');
  http.post('https://a.example/', 'text', [['x-one', '1']]);
  assert.deepEqual(sent(), { method: 'POST', url: 'https://a.example/', headers: [['x-one', '1']], body: 'text' });
  http.send({ method: 'patch', url: 'https://a.example/', headers: { 'x-two': '2' }, body: 'b' });
  assert.deepEqual(sent(), { method: 'PATCH', url: 'https://a.example/', headers: [['x-two', '2']], body: 'b' });
});

test('a JSON helper fails with a KerujError: non-2xx, not JSON, refused by the host', () => {
  host.answers['http.send'] = answer(401, '{}');
  assert.throws(() => http.getJson('https://a.example/', { authorization: 'x' }),
    (e) => e instanceof KerujError && e.message === 'the server answered 401');
  host.answers['http.send'] = answer(200, '<html>');
  assert.throws(() => http.postJson('https://a.example/', {}), (e) => e instanceof KerujError && /^the answer is not JSON: /.test(e.message));
  host.answers['http.send'] = () => { throw { payload: 'host b.example is not allowed' }; };
  assert.throws(() => http.getJson('https://b.example/'), (e) => e instanceof KerujError && e.message === 'host b.example is not allowed');
});

test('kv and secrets: the names the other SDKs use', () => {
  host.answers['kv.get'] = (key) => (key === 'k' ? utf8Encode('{"a":1}') : undefined);
  assert.equal(kv.getText('k'), '{"a":1}');
  assert.deepEqual(kv.getJson('k'), { a: 1 });
  assert.equal(kv.getJson('missing'), undefined);
  host.answers['kv.get'] = utf8Encode('nope');
  assert.throws(() => kv.getJson('k'), (e) => e instanceof KerujError && e.message.startsWith('kv "k" is not JSON: '));
  host.answers['secrets.keys'] = ['api_key'];
  assert.deepEqual(secrets.keys(), ['api_key']);
  assert.deepEqual(host.calls.at(-1), { call: 'secrets.keys', args: [''] });
});

const refuse = (message) => () => { throw { payload: message }; };
const added = () => host.calls.filter((c) => c.call === 'schedules.add').map((c) => c.args);

test('schedules: each timing reaches the host as the WIT variant, the payload as JSON', () => {
  host.answers['schedules.add'] = 'sch-1';
  assert.equal(schedules.after('follow_up', 600, { order: 17, note: 'ціна' }), 'sch-1');
  schedules.at('remind', '2026-12-24T09:00:00+02:00');
  schedules.at('remind', new Date(Date.UTC(2026, 11, 24, 7)), ['a']);
  schedules.every('sync_orders', '15m', null);
  schedules.cron('digest', '0 9 * * mon-fri', 'Europe/Kyiv', { digest: true });
  schedules.cron('digest', '0 9 * * *');
  assert.deepEqual(added(), [
    // u64 goes to the bindings as a BigInt.
    ['follow_up', { tag: 'after', val: 600n }, '{"order":17,"note":"ціна"}'],
    ['remind', { tag: 'at', val: '2026-12-24T09:00:00+02:00' }, 'null'],
    ['remind', { tag: 'at', val: '2026-12-24T07:00:00.000Z' }, '["a"]'],
    ['sync_orders', { tag: 'every', val: '15m' }, 'null'],
    ['digest', { tag: 'cron', val: { expression: '0 9 * * mon-fri', timezone: 'Europe/Kyiv' } }, '{"digest":true}'],
    ['digest', { tag: 'cron', val: { expression: '0 9 * * *', timezone: '' } }, 'null'],
  ]);
});

test('schedules: a payload or a delay the host could not take fails before the call', () => {
  for (const seconds of [-1, 1.5, '600', Number.MAX_SAFE_INTEGER + 1, NaN]) {
    assert.throws(() => schedules.after('e', seconds), TypeError, String(seconds));
  }
  assert.throws(() => schedules.every('e', '1h', () => 1), TypeError);
  assert.throws(() => schedules.every('e', '1h', { n: 1n }), TypeError);
  assert.deepEqual(added(), []);
});

test('schedules: all gives plain objects, payloads parsed back; cancel says whether there was one', () => {
  host.answers['schedules.all'] = [
    { id: 'a', event: 'follow_up', timing: { tag: 'after', val: 600n }, payload: '{"order":17}' },
    { id: 'b', event: 'remind', timing: { tag: 'at', val: '2026-12-24T09:00:00+02:00' }, payload: 'null' },
    { id: 'c', event: 'sync', timing: { tag: 'every', val: '15m' }, payload: '[1,"x"]' },
    { id: 'd', event: 'digest', timing: { tag: 'cron', val: { expression: '0 9 * * *', timezone: '' } }, payload: '"hi"' },
  ];
  assert.deepEqual(schedules.all(), [
    { id: 'a', event: 'follow_up', timing: { kind: 'after', seconds: 600 }, payload: { order: 17 } },
    { id: 'b', event: 'remind', timing: { kind: 'at', when: '2026-12-24T09:00:00+02:00' }, payload: null },
    { id: 'c', event: 'sync', timing: { kind: 'every', interval: '15m' }, payload: [1, 'x'] },
    { id: 'd', event: 'digest', timing: { kind: 'cron', expression: '0 9 * * *', timezone: '' }, payload: 'hi' },
  ]);
  host.answers['schedules.cancel'] = (id) => id === 'a';
  assert.equal(schedules.cancel('a'), true);
  assert.equal(schedules.cancel('gone'), false);
  assert.deepEqual(host.calls.at(-1), { call: 'schedules.cancel', args: ['gone'] });
});

test("schedules: the host's refusal is a KerujError with its message", () => {
  host.answers['schedules.add'] = refuse('at most 100 schedules per company');
  assert.throws(() => schedules.after('e', 60, { a: 1 }),
    (e) => e instanceof KerujError && e.message === 'at most 100 schedules per company');
  host.answers['schedules.all'] = refuse('no company');
  assert.throws(() => schedules.all(), (e) => e instanceof KerujError && e.message === 'no company');
  host.answers['schedules.cancel'] = refuse('the store is down');
  assert.throws(() => schedules.cancel('a'), (e) => e instanceof KerujError && e.message === 'the store is down');
});

test('webhooks: mint, all and revoke', () => {
  host.answers['webhooks.mint'] = 'https://apps.example.com/hooks/M-1';
  assert.equal(webhooks.mint('orders', 'shop-17'), 'https://apps.example.com/hooks/M-1');
  assert.deepEqual(host.calls.at(-1), { call: 'webhooks.mint', args: ['orders', 'shop-17'] });
  host.answers['webhooks.all'] = [{ name: 'orders', label: 'shop-17', url: 'https://apps.example.com/hooks/M-1' }];
  assert.deepEqual(webhooks.all(), [{ name: 'orders', label: 'shop-17', url: 'https://apps.example.com/hooks/M-1' }]);
  host.answers['webhooks.revoke'] = (url) => url.endsWith('M-1');
  assert.equal(webhooks.revoke('https://apps.example.com/hooks/M-1'), true);
  assert.equal(webhooks.revoke('https://apps.example.com/hooks/nope'), false);
  host.answers['webhooks.mint'] = refuse('no [[webhook]] named "order"');
  assert.throws(() => webhooks.mint('order', 'shop-17'),
    (e) => e instanceof KerujError && e.message === 'no [[webhook]] named "order"');
});
