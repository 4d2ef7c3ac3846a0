import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Form, FormError, checkbox, info, number, select, text } from '../src/form.js';

test('the builder writes the documented JSON', () => {
  const form = new Form('credentials_submitted', 'Connect your account', {
    description: 'optional text',
    elements: [
      text('api_key', 'API key', { required: true, secret: true }),
      select('city', 'City', [['kyiv', 'Kyiv']]),
    ],
  }).withError('api_key', 'This key was refused');
  assert.deepEqual(JSON.parse(form.toJson()), {
    reply: 'credentials_submitted',
    title: 'Connect your account',
    description: 'optional text',
    elements: [
      { type: 'text', name: 'api_key', label: 'API key', required: true, secret: true },
      { type: 'select', name: 'city', label: 'City', options: [{ value: 'kyiv', label: 'Kyiv' }] },
    ],
    errors: { api_key: 'This key was refused' },
  });
  assert.deepEqual(Form.fromJson(form.toJson()).toJSON(), form.toJSON());
});

test('withError leaves the original form alone', () => {
  const form = new Form('r', 'T', { elements: [text('a', 'A')] });
  const failed = form.withError('a', 'wrong');
  assert.deepEqual(form.errors, {});
  assert.deepEqual(failed.errors, { a: 'wrong' });
});

test('errors are written sorted by name, as the host writes them', () => {
  const form = new Form('r', 'T', { elements: [text('b', 'B'), text('a', 'A')] })
    .withError('b', '2').withError('a', '1');
  assert.equal(form.toJson().indexOf('"a":"1"') < form.toJson().indexOf('"b":"2"'), true);
});

test('validate names the rule a built form breaks', () => {
  const bad = [
    [new Form('r', 'T', { elements: [number('n', 'N', { value: '4' })] }), 'has a value that does not fit it'],
    [new Form('r', 'T', { elements: [checkbox('c', 'C', { value: true }), info('c', 'x')] }), 'two elements are named "c"'],
    [new Form('r', 'T').withError('ghost', 'boo'), '`errors` names "ghost", which is not an element'],
    [new Form('r', 'T', { elements: [select('s', 'S', [])] }), 'select "s" has no options'],
  ];
  for (const [form, message] of bad) {
    assert.throws(() => form.validate(), (e) => e instanceof FormError && e.message.includes(message));
  }
});
