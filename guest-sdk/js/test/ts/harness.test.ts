// A TypeScript test on node 20's own runner, through @keruj/guest/register-ts
// (run by testing.test.js): types stripped, `./helper.js` found as helper.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { KERUJ_API_URL, OutboundResponse, type Answer, type TestAppOptions } from '@keruj/guest/testing';
import { greet, type Greeting } from './helper.js';

enum Status {
  Created = 201,
}

test('TypeScript runs: types, an enum, a .js import of a .ts file', () => {
  const who: Greeting = { name: 'Ada' };
  assert.equal(greet(who), 'Hello, Ada');
  const response: OutboundResponse = OutboundResponse.json({ id: 7 }).withStatus(Status.Created);
  assert.equal(response.status, 201);
  assert.deepEqual(JSON.parse(response.body.toString()), { id: 7 });
  const kind: Answer['kind'] = 'done';
  assert.equal(kind, 'done');
  const options: TestAppOptions = { allowHosts: ['api.example.com'], onKerujApi: () => OutboundResponse.json({ data: {} }) };
  assert.deepEqual(options.allowHosts, ['api.example.com']);
  assert.equal(KERUJ_API_URL, 'https://api.keruj.test/api/graphql');
});
