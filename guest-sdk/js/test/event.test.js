import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Submission, eventFromBody } from '../src/event.js';

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
