// Not run: type-checked by testing.test.js with `tsc -p test/ts` (strict,
// skipLibCheck off), so that testing/index.d.ts says what the harness takes.

import {
  ACCOUNT_ID, Answer, OutboundResponse, TestApp, findBinary, type MadeSchedule, type MintedWebhook,
  OutboundRequest, type TestAppOptions,
} from '@keruj/guest/testing';

// No @types/node here: Buffer as the declarations use it.
declare global {
  class Buffer extends Uint8Array {
    toString(encoding?: string): string;
  }
}

export async function example(): Promise<unknown[]> {
  const options: TestAppOptions = {
    allowHosts: ['api.example.com'],
    config: { mode: 'test', retries: 3 },
    sidecar: { timeout_ms: 2000 },
    schedules: [{ event: 'sync', every: '1h' }],
    webhooks: [{ name: 'status', event: 'np_status', verify: 'github', secret: 'env:NP_SECRET' }],
    onHttp: (request: OutboundRequest) =>
      request.host() === 'api.example.com'
        ? OutboundResponse.json({ ok: true }).withStatus(201).withHeader('x-a', 'b')
        : { status: 404, body: 'no' },
    onKerujApi: async () => ({ json: { data: null } }),
  };
  const app: TestApp = await TestApp.build('.', { ...options, entry: 'src/app.ts' });
  const answer: Answer = await app.install('company-1');
  answer.expectDone();
  const form = (await app.configure()).expectForm();
  const errors: Record<string, string> = form.errors;
  const { status, message } = (await app.submit(form.reply, { name: 'Ada' })).expectError();
  const value: Buffer | undefined = await app.kvGet('company-1', 'greeted');
  const greeted = await app.kvGetJson<{ name: string }>('company-1', 'greeted');
  const made: MadeSchedule[] = await app.madeSchedules();
  const minted: MintedWebhook[] = await app.mintedWebhooks();
  const delivered = await app.deliverWebhook('status', { 'x-hub-signature-256': 'sha256=...' }, '{}');
  const signed = await app.deliverSigned('status', { parcel: 1 });
  const plain: boolean = await app.storedInPlaintext('k-1');
  const request = new OutboundRequest({ method: "GET", url: "https://api.example.com/" });
  const loaded = await TestApp.load('dist/app.wasm', { name: 'app', binary: findBinary() });
  await loaded.close();
  await app[Symbol.asyncDispose]();
  // @ts-expect-error: only build and load start one
  new TestApp();
  return [errors, status, message, value, greeted?.name, made[0]?.once, minted[0]?.url, delivered.status,
    signed.message, plain, ACCOUNT_ID, app.requests()[0]?.json(), app.lastLogs(), app.apiKey('company-1'), request.header('accept')];
}
