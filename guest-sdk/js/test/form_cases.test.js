// The shared cases of guest-sdk/form-cases.json, against this SDK's
// validator: the same answers as the host's Rust gate.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { Form, FormError } from '../src/form.js';

const file = JSON.parse(readFileSync(new URL('../../form-cases.json', import.meta.url), 'utf8'));

function replyText(c) {
  if (typeof c.text === 'string') return c.text;
  const reply = structuredClone(c.reply);
  const grow = c.grow ?? {};
  for (let i = 0; i < (grow.text_elements ?? 0); i++) {
    reply.elements.push({ type: 'text', name: `f${i}`, label: 'F' });
  }
  if (grow.first_label_bytes !== undefined) {
    const unit = grow.label_char ?? 'x';
    const unitBytes = Buffer.byteLength(unit);
    reply.elements[0].label = unit.repeat(Math.floor(grow.first_label_bytes / unitBytes));
  }
  return JSON.stringify(reply);
}

for (const c of file.cases) {
  test(c.name, () => {
    const json = replyText(c);
    if (c.valid) {
      const form = Form.fromJson(json);
      // What the SDK writes back is valid too, and the same form.
      assert.deepEqual(Form.fromJson(form.toJson()).toJSON(), form.toJSON());
      return;
    }
    assert.ok(c.rule in file.rules, `unknown rule ${c.rule}`);
    assert.throws(() => Form.fromJson(json), (error) => {
      assert.ok(error instanceof FormError, `not a FormError: ${error}`);
      assert.ok(error.message.startsWith('invalid form: '), error.message);
      if (c.error) assert.ok(error.message.includes(c.error), `${JSON.stringify(error.message)} does not say ${JSON.stringify(c.error)}`);
      return true;
    });
  });
}

test('every rule has a failing case', () => {
  const seen = new Set(file.cases.filter((c) => !c.valid).map((c) => c.rule));
  assert.deepEqual([...seen].sort(), Object.keys(file.rules).sort());
});
