// @keruj/guest/testing: its pieces without a host (answers, the sidecar, the
// outbound envelope both ways, finding the binary), then the harness driving
// plugins/hello-js in the real keruj-host binary (KERUJ_HOST_BIN, else
// keruj-host on PATH), and a TypeScript test through the register-ts loader.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  ACCOUNT_ID, Answer, BIN_VAR, DEFAULT_COMPANY, KERUJ_API_URL, OutboundRequest, OutboundResponse, TestApp, findBinary,
} from '@keruj/guest/testing';
import { answerer, readEnvelope, writeEnvelope } from '../testing/answer.js';
import { missingBinaryMessage } from '../testing/binary.js';
import { encode, isAppName } from '../testing/names.js';
import { sidecarText, toToml } from '../testing/sidecar.js';
import { call, startServer } from '../testing/wire.js';

const SDK = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HELLO = resolve(SDK, '..', '..', 'plugins', 'hello-js');

const scratch = () => mkdtempSync(join(tmpdir(), 'keruj-testing-test-'));

describe('answers', () => {
  test('read as Keruj reads them', () => {
    const done = Answer.of({ status: 200, reply: null });
    assert.equal(done.kind, 'done');
    done.expectDone();
    const form = Answer.of({ status: 200, reply: { reply: 'next', title: 'T', elements: [] } }).expectForm();
    assert.deepEqual(form, { reply: 'next', title: 'T', elements: [], errors: {} });
    const kept = Answer.of({ status: 200, reply: { reply: 'r', title: 'T', elements: [], errors: { a: 'bad' } } });
    assert.deepEqual(kept.expectForm().errors, { a: 'bad' });
    const failed = Answer.of({ status: 504, reply: null, error: 'too slow' });
    assert.equal(failed.kind, 'error');
    assert.deepEqual(failed.expectError(), { status: 504, message: 'too slow' });
  });

  test('expect* say what came instead', () => {
    const failed = Answer.error(500, 'the app failed');
    assert.throws(() => failed.expectDone(), { message: 'expected done, got error 500: the app failed' });
    assert.throws(() => failed.expectForm(), { message: 'expected a form, got error 500: the app failed' });
    assert.throws(() => Answer.done().expectError(), { message: 'expected an error, got done (200, empty body)' });
    assert.throws(() => Answer.form({ reply: 'r', title: 'T', elements: [] }).expectDone(), /expected done, got the form \{"reply":"r"/);
  });
});

describe('the sidecar', () => {
  test('reads as written: plain keys, then tables, then arrays of tables', () => {
    const text = toToml({
      allowed_hosts: ['api.example.com'],
      config: { mode: 'test', 'quote "x"': 'a\nb' },
      schedule: [{ event: 'sync', every: '15m' }],
      timeout_ms: 2000,
      nothing: null,
    });
    assert.equal(
      text,
      'allowed_hosts = ["api.example.com"]\ntimeout_ms = 2000\n' +
        '\n[config]\nmode = "test"\n"quote \\"x\\"" = "a\\nb"\n' +
        '\n[[schedule]]\nevent = "sync"\nevery = "15m"\n',
    );
    assert.equal(toToml({ limits: [1, 2.5, true], inline: [{ a: 1 }, 'x'], del: '\u007f' }),
      'limits = [1, 2.5, true]\ninline = [{ a = 1 }, "x"]\ndel = "\\u007F"\n');
  });

  test('the options make allowed_hosts, [config], [[schedule]] and [[webhook]]', () => {
    const text = sidecarText({
      allowHosts: ['api.example.com', 'localhost:8080'],
      config: { mode: 'test', retries: 3 },
      sidecar: { timeout_ms: 2000 },
      schedules: [{ event: 'sync', every: '1h' }],
      webhooks: [
        { name: 'status', event: 'np_status', verify: 'github', secret: 'env:NP_SECRET' },
        { name: 'open', event: 'ping', verify: 'none' },
      ],
    });
    assert.equal(
      text,
      'timeout_ms = 2000\nallowed_hosts = ["api.example.com", "localhost:8080"]\n' +
        '\n[config]\nmode = "test"\nretries = "3"\n' +
        '\n[[schedule]]\nevent = "sync"\nevery = "1h"\n' +
        '\n[[webhook]]\nname = "status"\nevent = "np_status"\nverify = "github"\nsecret = "env:NP_SECRET"\n' +
        '\n[[webhook]]\nname = "open"\nevent = "ping"\nverify = "none"\n',
    );
    assert.equal(sidecarText({}), 'allowed_hosts = []\n\n[config]\n');
  });
});

describe('the outbound envelope', () => {
  const posted = (fields) => Buffer.from(JSON.stringify({
    method: 'POST', url: 'https://api.example.com/v1/check', headers: [['x-token', 't'], ['content-type', 'application/json']],
    body_base64: Buffer.from('{"key":"k-1"}').toString('base64'), ...fields,
  }));

  test('a posted call reads as a request; an answer writes as the host reads it', () => {
    const request = readEnvelope(posted({}));
    assert.equal(request.method, 'POST');
    assert.equal(request.url, 'https://api.example.com/v1/check');
    assert.deepEqual(request.headers, [['x-token', 't'], ['content-type', 'application/json']]);
    assert.equal(request.header('X-Token'), 't');
    assert.equal(request.header('nope'), undefined);
    assert.deepEqual(request.json(), { key: 'k-1' });
    assert.equal(request.text(), '{"key":"k-1"}');
    assert.ok(Buffer.isBuffer(request.body));
    assert.throws(() => readEnvelope(posted({ body_base64: 'not base64!' })), /not base64/);

    const answer = OutboundResponse.json({ valid: true }).withStatus(201).withHeader('x-a', 'b');
    assert.deepEqual(JSON.parse(writeEnvelope(answer)), {
      status: 201,
      headers: [['content-type', 'application/json'], ['x-a', 'b']],
      body_base64: Buffer.from('{"valid":true}').toString('base64'),
    });
    const text = OutboundResponse.text('hi');
    assert.deepEqual([text.status, text.headers, text.body.toString()], [200, [['content-type', 'text/plain; charset=utf-8']], 'hi']);
    assert.notEqual(text.withStatus(404), text);
    assert.equal(text.status, 200);
  });

  test('a request reads as a handler checks it', () => {
    const request = (url) => new OutboundRequest({ method: 'GET', url, headers: [], body: Buffer.from('nope') });
    const seen = request('https://User@API.Example.com:8443/v1/check?x=1#f');
    assert.equal(seen.host(), 'api.example.com');
    assert.equal(seen.path(), '/v1/check');
    assert.equal(request('https://api.example.com/').host(), 'api.example.com');
    assert.equal(request('http://[::1]:9/').host(), '::1');
    assert.equal(request('https://a.example?q').path(), '/');
    assert.equal(seen.json(), null);
  });

  test('plain answers: status 200, no headers, text or bytes or json', () => {
    const plain = OutboundResponse.from({ body: 'hello' });
    assert.deepEqual([plain.status, plain.headers, plain.body.toString()], [200, [], 'hello']);
    const bytes = OutboundResponse.from({ status: 204, headers: { 'x-a': 'b' }, body: new Uint8Array([1, 2]) });
    assert.deepEqual([bytes.status, bytes.headers, [...bytes.body]], [204, [['x-a', 'b']], [1, 2]]);
    const json = OutboundResponse.from({ status: 422, json: { error: 'no' } });
    assert.deepEqual([json.status, json.headers, json.body.toString()], [422, [['content-type', 'application/json']], '{"error":"no"}']);
    assert.equal(OutboundResponse.from({}).body.length, 0);
    assert.throws(() => OutboundResponse.from('text'), /must return an OutboundResponse/);
    assert.throws(() => OutboundResponse.from({ status: 'ok' }), /must be an HTTP status/);
  });

  test('the answerer records each call and asks the right handler', async () => {
    const requests = [];
    const failed = {};
    const answer = answerer({
      onHttp: async (request) => {
        if (request.url.endsWith('/boom')) throw new Error('boom');
        return { json: { seen: request.json() } };
      },
      onKerujApi: (request) => OutboundResponse.json({ data: { key: request.header('x-keruj-api-key') } }),
      requests,
      failed,
    });
    const read = async (body) => {
      const { status, body: out } = await answer(body);
      assert.equal(status, 200);
      const { status: code, headers, body_base64 } = JSON.parse(out);
      return { code, headers, text: Buffer.from(body_base64, 'base64').toString() };
    };
    assert.deepEqual(await read(posted({})), {
      code: 200, headers: [['content-type', 'application/json']], text: '{"seen":{"key":"k-1"}}',
    });
    const api = await read(posted({ url: KERUJ_API_URL, headers: [['x-keruj-api-key', 'kj-1']] }));
    assert.equal(api.text, '{"data":{"key":"kj-1"}}');
    const boom = await read(posted({ method: 'GET', url: 'https://api.example.com/boom' }));
    assert.deepEqual([boom.code, boom.text], [500, "the test's handler failed"]);
    assert.equal(failed.error.message, 'the onHttp handler failed on GET https://api.example.com/boom: boom');
    assert.equal(failed.error.cause.message, 'boom');
    assert.deepEqual(requests.map((r) => r.url), ['https://api.example.com/v1/check', KERUJ_API_URL, 'https://api.example.com/boom']);

    const bare = answerer({ requests: [], failed: {} });
    const missing = JSON.parse((await bare(posted({ method: 'GET', url: 'https://x.example/' }))).body);
    assert.equal(missing.status, 502);
    assert.equal(Buffer.from(missing.body_base64, 'base64').toString(),
      'keruj-test: the test gave no onHttp handler for GET https://x.example/');
    const noApi = JSON.parse((await bare(posted({ url: KERUJ_API_URL }))).body);
    assert.match(Buffer.from(noApi.body_base64, 'base64').toString(), /no onKerujApi handler for POST https:\/\/api\.keruj\.test/);
    assert.equal((await bare(Buffer.from('not json'))).status, 400);
  });

  test('the server answers over loopback; the client reads its answer', async () => {
    const server = await startServer(async (body) => ({ status: 201, body: `seen ${body}` }));
    const addr = new URL(server.url).host;
    const response = await call(addr, 'POST', '/x', [['x-a', '1']], 'hello');
    assert.deepEqual([response.status, response.body.toString()], [201, 'seen hello']);
    await server.close();
    await assert.rejects(call(addr, 'GET', '/x'), /cannot GET \/x on the keruj-host at 127\.0\.0\.1:/);
  });
});

describe('names', () => {
  test('constants, app ids and query values', () => {
    assert.deepEqual([ACCOUNT_ID, DEFAULT_COMPANY, BIN_VAR], ['test-account', 'test-company', 'KERUJ_HOST_BIN']);
    assert.equal(KERUJ_API_URL, 'https://api.keruj.test/api/graphql');
    assert.ok(isAppName('hello-js') && isAppName('a') && isAppName('9_x'));
    assert.ok(!isAppName('') && !isAppName('-a') && !isAppName('Hello') && !isAppName('a'.repeat(64)));
    assert.equal(encode('acme & co/ü'), 'acme%20%26%20co%2F%C3%BC');
  });
});

describe('the binary', () => {
  test('without one, the message says how to install it', () => {
    const message = missingBinaryMessage();
    assert.match(message, /none was found: not in KERUJ_HOST_BIN, not on PATH/);
    // This SDK sits in a keruj-host checkout: the command names its host/.
    assert.ok(message.includes(`cargo install --locked --path ${resolve(SDK, '..', '..', 'host')}\n`), message);
    assert.match(message, /cargo install --locked --git <keruj-host repository URL> keruj-host/);
    assert.match(message, /or set KERUJ_HOST_BIN to a keruj-host binary/);
    const elsewhere = missingBinaryMessage(join(tmpdir(), 'no-checkout-here'));
    assert.ok(!elsewhere.includes('--path'), elsewhere);
    assert.throws(() => findBinary({ PATH: join(tmpdir(), 'no-keruj-host-here') }), { message: missingBinaryMessage() });
  });

  test('KERUJ_HOST_BIN must name a file; else PATH is searched', () => {
    const dir = scratch();
    try {
      assert.throws(() => findBinary({ KERUJ_HOST_BIN: join(dir, 'nothing') }), {
        message: `KERUJ_HOST_BIN is ${join(dir, 'nothing')}, which is not a file: point it at the keruj-host binary, or unset it to use the one on PATH`,
      });
      assert.throws(() => findBinary({ KERUJ_HOST_BIN: dir }), /which is not a file/);
      writeFileSync(join(dir, 'keruj-host'), '');
      assert.equal(findBinary({ PATH: `/nowhere:${dir}` }), join(dir, 'keruj-host'));
      assert.equal(findBinary({ KERUJ_HOST_BIN: join(dir, 'keruj-host'), PATH: '' }), join(dir, 'keruj-host'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a host that does not start: its exit, its log and the hint', async () => {
    const dir = scratch();
    try {
      const old = join(dir, 'old-keruj-host');
      writeFileSync(old, "#!/bin/sh\necho \"error: unexpected argument '--answer-outbound' found\" >&2\nexit 2\n");
      chmodSync(old, 0o755);
      writeFileSync(join(dir, 'app.wasm'), 'not a component');
      await assert.rejects(TestApp.load(join(dir, 'app.wasm'), { binary: old }), (error) => {
        assert.match(error.message, /old-keruj-host dev did not start: it exited \(exit status: 2\); its log:\nerror: unexpected argument/);
        assert.match(error.message, /this keruj-host is older than @keruj\/guest\/testing/);
        return true;
      });
      await assert.rejects(TestApp.load(join(dir, 'missing.wasm'), { binary: old }), /cannot read the app .*missing\.wasm: build it first/);
      await assert.rejects(TestApp.load(join(dir, 'app.wasm'), { binary: old, name: 'Bad Name' }), /"Bad Name" is not a valid app id/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The binary the hello tests run, or why they are skipped (none at all: not in KERUJ_HOST_BIN, not on PATH). */
function binaryOrSkip() {
  if (process.env[BIN_VAR]) return { binary: findBinary() }; // Set but wrong: fail, do not skip.
  try {
    return { binary: findBinary() };
  } catch (error) {
    return { skip: `no keruj-host binary (set KERUJ_HOST_BIN): ${error.message.split('\n')[0]}` };
  }
}

const { skip } = binaryOrSkip();

describe('hello-js in keruj-host', { skip }, () => {
  let app;
  let boom = false;

  before(async () => {
    app = await TestApp.build(HELLO, {
      allowHosts: ['api.example.com'],
      config: { mode: 'test' },
      sidecar: { timeout_ms: 10000 },
      schedules: [{ event: 'reminder', every: '1h' }],
      webhooks: [{ name: 'status', event: 'np_status', verify: 'github', secret: 'secret:hook_key' }],
      onHttp: (request) => {
        if (boom) throw new Error(`no call to ${request.url} expected`);
        return OutboundResponse.json({ path: request.path(), accept: request.header('Accept') ?? null });
      },
    });
  });

  after(() => app?.close());

  test('builds, named after its package, its sidecar written', () => {
    assert.equal(app.name, 'hello-js');
    assert.match(app.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const sidecar = readFileSync(join(app.folder, 'plugins', 'hello-js.toml'), 'utf8');
    assert.match(sidecar, /allowed_hosts = \["api\.example\.com"\]/);
    assert.match(sidecar, /\[\[webhook\]\]\nname = "status"/);
    assert.equal(app.company(), DEFAULT_COMPANY);
  });

  test('install, configure, submit: the form, its error, the name kept', async () => {
    (await app.install('acme')).expectDone();
    assert.equal(app.company(), 'acme');
    assert.match(app.apiKey('acme'), /^kj_/);
    assert.equal(app.apiKey('other'), undefined);
    assert.ok(await app.isInstalled('acme'));
    assert.ok(!(await app.isInstalled('nobody')));

    const form = (await app.configure()).expectForm();
    assert.equal(form.reply, 'name_submitted');
    assert.equal(form.title, 'Say hello');
    assert.deepEqual(form.errors, {});
    assert.deepEqual(form.elements.map((e) => e.name), ['name']);

    const again = (await app.submit('name_submitted', { name: '  ' })).expectForm();
    assert.equal(again.errors.name, 'Please type your name');

    (await app.submit('name_submitted', { name: 'Ada' })).expectDone();
    assert.deepEqual(app.lastLogs(), ['INFO Ada said hello for acme']);
    assert.deepEqual(await app.kvGetJson('acme', 'greeted'), { name: 'Ada' });
    assert.deepEqual(await app.kvKeys('acme'), ['greeted']);
    assert.equal((await app.kvGet('acme', 'greeted')).toString(), '{"name":"Ada"}');
    assert.equal(await app.kvGet('acme', 'nothing'), undefined);
  });

  test('any event, with account_id; whoami reads kv', async () => {
    const echo = (await app.event('ping', { x: 1 })).expectForm();
    assert.equal(echo.title, 'Echo: ping');
    const received = JSON.parse(echo.elements[0].label);
    assert.equal(received.account_id, ACCOUNT_ID);
    assert.equal(received.x, 1);
    const who = (await app.event('whoami')).expectForm();
    assert.equal(who.elements[0].label, 'Hello, Ada');
    await assert.rejects(app.event('ping', [1]), /must be an object/);
  });

  test('outbound calls reach the handler under the grant, and are recorded', async () => {
    const before = app.requests().length;
    const fetched = (await app.submit('fetch', { url: 'https://api.example.com/v1/x?y=1' })).expectForm();
    assert.equal(fetched.elements[0].label, '200 {"path":"/v1/x","accept":null}');
    const web = (await app.submit('web_fetch', { url: 'https://api.example.com/web' })).expectForm();
    assert.match(web.elements[0].label, /^200 \{"path":"\/web"/);
    const refused = (await app.submit('fetch', { url: 'https://other.example.com/' })).expectForm();
    assert.match(refused.elements[0].label, /other\.example\.com is not in this app's allowed_hosts/);
    const seen = app.requests().slice(before);
    assert.deepEqual(seen.map((r) => [r.method, r.url]), [
      ['GET', 'https://api.example.com/v1/x?y=1'],
      ['GET', 'https://api.example.com/web'],
    ]);
    assert.equal(seen[0].host(), 'api.example.com');
    assert.ok(seen[0] instanceof OutboundRequest);
  });

  test('a handler that throws fails the event that made the call', async () => {
    boom = true;
    try {
      await assert.rejects(app.submit('fetch', { url: 'https://api.example.com/boom' }), (error) => {
        assert.equal(error.message, 'the onHttp handler failed on GET https://api.example.com/boom: no call to https://api.example.com/boom expected');
        return true;
      });
    } finally {
      boom = false;
    }
    // Raised once: the next event is the next event.
    (await app.event('whoami')).expectForm();
  });

  test('kv and secrets seeded and read; an uninstalled company refused', async () => {
    await app.kvSet('acme', 'raw', new Uint8Array([0, 255]));
    assert.deepEqual([...(await app.kvGet('acme', 'raw'))], [0, 255]);
    await app.kvSet('acme', 'greeted', JSON.stringify({ name: 'Grace' }));
    assert.equal((await app.event('whoami')).expectForm().elements[0].label, 'Hello, Grace');
    await app.secretSet('acme', 'token', 'tok-1');
    assert.equal(await app.secretGet('acme', 'token'), 'tok-1');
    assert.equal(await app.secretGet('acme', 'none'), undefined);
    await assert.rejects(app.kvSet('nobody', 'k', 'v'), /keruj-host refused PUT \/_dev\/api\/data: 409 nobody has not installed hello-js/);
    await app.kvSet('acme', 'greeted', JSON.stringify({ name: 'Ada' }));
  });

  test('a sidecar schedule runs now; an undeclared one says how to declare it', async () => {
    (await app.runSchedule('reminder')).expectDone();
    assert.deepEqual(app.lastLogs(), ['INFO reminder for undefined']);
    await assert.rejects(app.runSchedule('nope'), /hello-js has no \[\[schedule\]\] with event "nope" \(declare it with the schedules option\)/);
  });

  test('a schedule the app made: listed, run now, gone', async () => {
    const id = (await app.submit('remind', { after: '3600' })).expectForm().elements[0].label;
    const made = await app.madeSchedules();
    assert.deepEqual(made, [{ id, event: 'reminder', once: true, payload: { name: 'Ada' } }]);
    (await app.runMadeSchedule(id)).expectDone();
    assert.deepEqual(app.lastLogs(), ['INFO reminder for Ada']);
    assert.deepEqual(await app.madeSchedules(), []);
    await assert.rejects(app.runMadeSchedule('nope'), /made no schedule "nope" for acme/);
    assert.deepEqual(await app.mintedWebhooks(), []);
  });

  test('webhooks: the URL, an unsigned delivery refused, a signed one verified', async () => {
    const url = await app.webhookUrl('status');
    assert.ok(url.startsWith(`${app.url}/hooks/`), url);
    await assert.rejects(app.webhookUrl('nope'), /hello-js has no \[\[webhook\]\] named "nope" \(it has: status\): declare it with the webhooks option/);
    const unsigned = await app.deliverWebhook('status', { 'content-type': 'application/json' }, '{"parcel":1}');
    assert.equal(unsigned.status, 401);
    assert.notEqual(unsigned.message, '');
    assert.throws(() => unsigned.expectAccepted(), /expected the delivery accepted, got 401: /);
    assert.deepEqual(Object.keys(unsigned), ['status', 'message']);
    await assert.rejects(app.deliverSigned('status', { parcel: 1 }), /keruj-host cannot sign for webhook status: .*hook_key/);
    await app.secretSet('acme', 'hook_key', 'whsec-1');
    const signed = await app.deliverSigned('status', { parcel: 1 });
    // Verified and handed to the app (which has no webhook branch: whatever it answers, not 401).
    assert.notEqual(signed.status, 401, signed.message);
    app.useCompany('elsewhere');
    await assert.rejects(app.webhookUrl('status'), /elsewhere has not installed hello-js: call install\("elsewhere"\) first/);
    app.useCompany('acme');
  });

  test('secrets are not stored in plain text; kv may be', async (t) => {
    await app.secretSet('acme', 'token', 'plain-sekrit-4711');
    let found;
    try {
      found = await app.storedInPlaintext('plain-sekrit-4711');
    } catch (error) {
      if (/no POST \/_dev\/api\/flush/.test(error.message)) return t.skip('this keruj-host has no /_dev/api/flush yet');
      throw error;
    }
    assert.equal(found, false);
    assert.equal(await app.storedInPlaintext('nowhere-at-all-0815'), false);
    // The search itself finds what is there: kv values are stored as they are.
    await app.kvSet('acme', 'marker', 'kv-marker-5150');
    assert.equal(await app.storedInPlaintext('kv-marker-5150'), true);
    assert.equal(await app.storedInPlaintext(Buffer.from('kv-marker-5150')), true);
    await assert.rejects(app.storedInPlaintext(''), /non-empty needle/);
  });

  test('uninstall deletes what the company had', async () => {
    (await app.uninstall()).expectDone();
    assert.ok(!(await app.isInstalled('acme')));
    assert.deepEqual(await app.kvKeys('acme'), []);
  });

  test('close stops the host and deletes the folder, once', async () => {
    const { url, folder } = app;
    await app.close();
    await app.close();
    assert.ok(!existsSync(folder));
    await assert.rejects(call(new URL(url).host, 'GET', '/_dev/api/apps'), /cannot GET/);
  });
});

describe('a component the host cannot load', { skip }, () => {
  test('fails with the host\'s reason', async () => {
    const dir = scratch();
    try {
      writeFileSync(join(dir, 'junk.wasm'), 'not a component');
      await assert.rejects(TestApp.load(join(dir, 'junk.wasm')), /^Error: keruj-host cannot load junk: ./);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('a TypeScript test runs through @keruj/guest/register-ts', async () => {
  // Without NODE_TEST_CONTEXT, which would make the child a subtest of this run.
  const { NODE_TEST_CONTEXT, ...env } = process.env;
  const child = spawn(process.execPath, ['--import', '@keruj/guest/register-ts', '--test', 'test/ts/harness.test.ts'], {
    cwd: SDK,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr.on('data', (chunk) => { output += chunk; });
  const code = await new Promise((done) => child.on('close', done));
  assert.equal(code, 0, output);
  assert.match(output, /# pass 1\n/);
  assert.match(output, /# fail 0\n/);
});

const TSC = join(SDK, 'node_modules', 'typescript', 'bin', 'tsc');

test('the declarations type-check (tsc --strict over test/ts/types-check.ts)', {
  skip: existsSync(TSC) ? false : 'no typescript in node_modules (it comes with componentize-js\'s jco)',
}, async () => {
  const child = spawn(process.execPath, [TSC, '-p', 'test/ts'], { cwd: SDK, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr.on('data', (chunk) => { output += chunk; });
  assert.equal(await new Promise((done) => child.on('close', done)), 0, output);
});
