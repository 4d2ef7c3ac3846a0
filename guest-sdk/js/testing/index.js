// @keruj/guest/testing: test a Keruj app with node's test runner in seconds.
// The app's component is served by the `keruj-host` binary you already
// installed (`keruj-host dev` on a free loopback port, over a temporary
// folder), events are sent as Keruj sends them, answers come back typed, the
// company's stored data is at hand, and the app's outbound HTTP is answered
// by the test (no network). The port of the Rust crate `keruj-test`.
//
// Nothing is mocked: every call goes over loopback to the real host, with
// the same lifecycle, form validation, storage, limits and outbound grant as
// in production. Only the network is replaced (`keruj-host dev
// --answer-outbound`), after the app's `allowed_hosts` and limits apply.

import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { inspect } from 'node:util';

import { CONFIGURE, INSTALL, UNINSTALL } from '../src/event.js';
import { Answer, OutboundRequest, OutboundResponse, answerer, headerPairs, toBytes } from './answer.js';
import { BIN_VAR, findBinary, logTail, startHost } from './binary.js';
import { ACCOUNT_ID, DEFAULT_COMPANY, KERUJ_API_URL, encode, isAppName } from './names.js';
import { sidecarText } from './sidecar.js';
import { call, startServer } from './wire.js';

export { ACCOUNT_ID, Answer, BIN_VAR, DEFAULT_COMPANY, KERUJ_API_URL, OutboundRequest, OutboundResponse, findBinary };

/** An app served by `keruj-host dev` on a temporary folder, driven as Keruj drives it. Close it when done. */
export class TestApp {
  #host;
  #server;
  #requests = [];
  #failed = { error: undefined };
  #apiKeys = new Map();
  #lastLogs = [];
  #company = DEFAULT_COMPANY;
  #log;
  #closed;

  /** Use `TestApp.build` or `TestApp.load`. */
  constructor(secret, { name, folder, host, server, requests, failed }) {
    if (secret !== START) throw new TypeError('start a TestApp with TestApp.build(appDir) or TestApp.load(wasm)');
    this.name = name;
    this.folder = folder;
    this.url = `http://${host.addr}`;
    this.#host = host;
    this.#server = server;
    this.#requests = requests;
    this.#failed = failed;
    this.#log = join(folder, 'keruj-host.log');
  }

  /**
   * Builds the app in `appDir` (its `options.entry`, default `src/app.ts` if
   * it exists, else `src/app.js`) with the SDK's own build, and serves it,
   * named after its package.json `name` (without the scope).
   */
  static async build(appDir, options = {}) {
    // The binary first: no point building the app without it.
    const binary = options.binary ?? findBinary();
    const dir = resolve(appDir);
    const entry = resolve(dir, options.entry ?? (existsSync(join(dir, 'src', 'app.ts')) ? 'src/app.ts' : 'src/app.js'));
    const name = options.name ?? packageName(dir);
    return TestApp.#start({ ...options, binary }, name, async (wasm) => {
      const { build } = await import('../build/build.js');
      await build({ entry, out: wasm, quiet: true });
    });
  }

  /** Serves the component at `wasmPath`, named after the file unless `options.name` says. */
  static async load(wasmPath, options = {}) {
    const name = options.name ?? basename(wasmPath, extname(wasmPath));
    return TestApp.#start(options, name, async (wasm) => {
      try {
        await copyFile(wasmPath, wasm);
      } catch {
        throw new Error(`cannot read the app ${wasmPath}: build it first (npm run build) or use TestApp.build`);
      }
    });
  }

  static async #start(options, name, place) {
    if (!isAppName(name)) {
      throw new Error(
        `${JSON.stringify(name)} is not a valid app id (1 to 63 of a-z, 0-9, _ and -, starting ` +
          'with a letter or digit): choose one with the name option',
      );
    }
    const binary = options.binary ?? findBinary();
    const folder = await mkdtemp(join(tmpdir(), 'keruj-test-'));
    openFolders.add(folder);
    const cleanup = [() => rm(folder, { recursive: true, force: true }).then(() => openFolders.delete(folder))];
    const undo = async () => {
      for (const step of cleanup.reverse()) await step().catch(() => {});
    };
    try {
      const plugins = join(folder, 'plugins');
      await mkdir(plugins, { recursive: true });
      await place(join(plugins, `${name}.wasm`));
      await writeFile(join(plugins, `${name}.toml`), sidecarText(options));
      const requests = [];
      const failed = { error: undefined };
      const server = await startServer(answerer({ onHttp: options.onHttp, onKerujApi: options.onKerujApi, requests, failed }));
      cleanup.push(server.close);
      const host = await startHost({
        binary,
        plugins,
        data: join(folder, 'data'),
        log: join(folder, 'keruj-host.log'),
        answerUrl: server.url,
        kerujApiUrl: KERUJ_API_URL,
      });
      cleanup.push(host.stop);
      const app = new TestApp(START, { name, folder, host, server, requests, failed });
      await app.#checkLoaded();
      return app;
    } catch (error) {
      await undo();
      throw error;
    }
  }

  /** Stops the host (killed and awaited), the outbound server, and deletes the folder. */
  close() {
    this.#closed ??= (async () => {
      await this.#host.stop();
      await this.#server.close();
      await rm(this.folder, { recursive: true, force: true });
      openFolders.delete(this.folder);
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose]() {
    return this.close();
  }

  /** The company events go to now. */
  company() {
    return this.#company;
  }

  /** Sends the next events for `company`, without installing. */
  useCompany(company) {
    this.#company = company;
  }

  /** The `account_api_key` the install of `company` carried: the key the app's Keruj API calls must carry. */
  apiKey(company) {
    return this.#apiKeys.get(company);
  }

  /** Every outbound request the app made so far, Keruj API calls included, in order. */
  requests() {
    return [...this.#requests];
  }

  /** What the app logged while the host handled the last event, schedule run or delivery: `LEVEL message` lines. */
  lastLogs() {
    return [...this.#lastLogs];
  }

  /** The host's own log (its stderr), last lines: where to look when an answer is a bare 500. */
  hostLog() {
    return logTail(this.#log);
  }

  /** `application_install` for `company` (with a generated `account_api_key`); the next events go to it. */
  install(company = this.#company) {
    this.useCompany(company);
    return this.event(INSTALL, {});
  }

  /** `application_configure` for the current company. */
  configure() {
    return this.event(CONFIGURE, {});
  }

  /** The user's answers to a form: the event `reply` (the form's `reply`) with `data`, answers by element name. */
  submit(reply, data = {}) {
    return this.event(reply, { data });
  }

  /** `application_uninstall` for the current company: the host deletes all it holds for it, whatever the app answers. */
  uninstall() {
    return this.event(UNINSTALL, {});
  }

  /** Any event `name` for the current company; `body`'s fields go beside `event`, `company_id` and `account_id`. */
  async event(name, body = {}) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new TypeError(`the body of event ${name} must be an object, not ${inspect(body)}`);
    }
    const fields = { account_id: ACCOUNT_ID, ...body };
    const company = this.#company;
    const sent = await this.#api('POST', '/_dev/api/send', { app: this.name, event: name, company, body: fields });
    const key = sent?.request?.account_api_key;
    if (typeof key === 'string') this.#apiKeys.set(company, key);
    this.#keepLogs(sent);
    this.#raiseHandlerFailure();
    return Answer.of(sent);
  }

  // Data: the company's kv and secrets through /_dev/api/data (the same storage, limits and encryption as the app's).

  /** What the app stored in `kv` under `key` for `company`, or undefined. */
  kvGet(company, key) {
    return this.#get('kv', company, key);
  }

  /** `kvGet` read as JSON (what `kv.setJson` stored), or undefined. */
  async kvGetJson(company, key) {
    const bytes = await this.kvGet(company, key);
    if (bytes === undefined) return undefined;
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      throw new Error(`kv ${JSON.stringify(key)} of ${company} is not JSON: ${error.message}`);
    }
  }

  /** The names the app stored in `kv` for `company`, in order. */
  async kvKeys(company) {
    const listed = await this.#api('GET', this.#dataQuery('kv', company));
    return (listed.keys ?? []).filter((key) => typeof key === 'string');
  }

  /** Stores `value` (text or bytes) in `kv` under `key` for `company`, as the app would. The company must be installed. */
  kvSet(company, key, value) {
    return this.#set('kv', company, key, value);
  }

  /** The secret `name` of `company`, decrypted, or undefined. */
  async secretGet(company, name) {
    const bytes = await this.#get('secrets', company, name);
    return bytes === undefined ? undefined : bytes.toString('utf8');
  }

  /** Stores the secret `name` for `company` (encrypted, as the app's `secrets.set`). The company must be installed. */
  secretSet(company, name, value) {
    return this.#set('secrets', company, name, value);
  }

  /** Whether `company` has the app installed. */
  async isInstalled(company) {
    const listed = await this.#api('GET', this.#dataQuery('kv', company));
    return listed.installed === true;
  }

  /**
   * Whether the bytes of `needle` (text as UTF-8) occur in any file of the
   * host's data folder, after the host wrote its store to disk: how a test
   * proves a secret is stored encrypted.
   */
  async storedInPlaintext(needle) {
    const bytes = toBytes(needle);
    if (bytes.length === 0) throw new TypeError('storedInPlaintext needs a non-empty needle');
    const { status, answer } = await this.#tryApi('POST', '/_dev/api/flush', {});
    if (status === 404) {
      throw new Error('this keruj-host has no POST /_dev/api/flush: install a newer one to use storedInPlaintext');
    }
    if (status !== 200) this.#refused('POST', '/_dev/api/flush', status, answer);
    for (const file of filesUnder(join(this.folder, 'data'))) {
      const content = await readFile(file).catch(() => Buffer.alloc(0));
      if (content.includes(bytes)) return true;
    }
    return false;
  }

  // Triggers: what the host starts on its own, fired by the test now.

  /** Fires the sidecar schedule of `event` for the current company now (`due` now, `attempt` 1): done or an error. */
  async runSchedule(event) {
    const body = { app: this.name, company: this.#company, event };
    const { status, answer } = await this.#tryApi('POST', '/_dev/api/run-schedule', body);
    if (status !== 200) throw new Error(`${errorText(answer)} (declare it with the schedules option)`);
    return this.#runAnswer(answer);
  }

  /** The URL of the webhook `name` for the current company, as the app gets it in `ctx.webhooks`. The company must be installed. */
  async webhookUrl(name) {
    const company = this.#company;
    const listed = await this.#triggers();
    const hooks = Array.isArray(listed.webhooks) ? listed.webhooks : [];
    const hook = hooks.find((h) => h.name === name);
    if (!hook) {
      const names = hooks.map((h) => h.name).filter((n) => typeof n === 'string');
      throw new Error(
        `${this.name} has no [[webhook]] named ${JSON.stringify(name)} (it has: ${names.length ? names.join(', ') : 'none'}): ` +
          'declare it with the webhooks option',
      );
    }
    if (typeof hook.url !== 'string') {
      throw new Error(`${company} has not installed ${this.name}: call install(${JSON.stringify(company)}) first`);
    }
    return hook.url;
  }

  /**
   * POSTs `body` with `headers` to the current company's webhook `name`, as a
   * third party would (sign the headers yourself, or leave them out to see
   * the 401 an unsigned delivery gets): `{status, message}`.
   */
  async deliverWebhook(name, headers = [], body = '') {
    return this.deliverWebhookTo(await this.webhookUrl(name), headers, body);
  }

  /** `deliverWebhook` to any of the host's webhook URLs: one the app minted (`mintedWebhooks`), say. */
  async deliverWebhookTo(url, headers = [], body = '') {
    const at = url.indexOf('/hooks/');
    if (at < 0) throw new Error(`the host gave a webhook URL without /hooks/: ${url}`);
    const answer = await call(this.#host.addr, 'POST', url.slice(at), headerPairs(headers), body);
    this.#raiseHandlerFailure();
    const text = answer.body.toString('utf8');
    let message = text;
    try {
      const error = JSON.parse(text)?.error;
      if (typeof error === 'string') message = error;
    } catch {}
    return delivery(answer.status, answer.status === 200 ? '' : message);
  }

  /**
   * Delivers `body` (text; an object goes as JSON) to the current company's
   * webhook `name`, signed as its provider would sign it with the configured
   * secret (`env:VAR`'s value, or the company's stored secret for
   * `secret:<name>`): `{status, message}`.
   */
  async deliverSigned(name, body) {
    const request = { app: this.name, company: this.#company, name };
    if (body !== undefined) request.body = typeof body === 'string' || body instanceof Uint8Array ? toBytes(body).toString('utf8') : JSON.stringify(body);
    const { status, answer } = await this.#tryApi('POST', '/_dev/api/deliver', request);
    if (status !== 200) throw new Error(errorText(answer));
    this.#keepLogs(answer);
    this.#raiseHandlerFailure();
    const unsigned = answer?.request?.unsigned_because;
    if (typeof unsigned === 'string') {
      throw new Error(`keruj-host cannot sign for webhook ${name}: ${JSON.stringify(unsigned)}`);
    }
    return delivery(typeof answer.status === 'number' ? answer.status : 0, typeof answer.error === 'string' ? answer.error : '');
  }

  // What the app made at run time for the current company (contract 0.2.0).

  /** The schedules the app made for the current company, oldest first: `{id, event, once, payload}`. */
  async madeSchedules() {
    const listed = await this.#triggers();
    return (Array.isArray(listed.made) ? listed.made : []).map((made) => ({
      id: String(made.id ?? ''),
      event: String(made.event ?? ''),
      once: made.when === 'once',
      payload: made.payload ?? null,
    }));
  }

  /** Fires the made schedule `id` now, as the scheduler does at its due time; a one-off the app handled is gone afterwards. */
  async runMadeSchedule(id) {
    const body = { app: this.name, company: this.#company, id };
    const { status, answer } = await this.#tryApi('POST', '/_dev/api/run-schedule', body);
    if (status !== 200) throw new Error(errorText(answer));
    return this.#runAnswer(answer);
  }

  /** The webhook URLs the app minted for the current company, oldest first: `{name, label, url}`. */
  async mintedWebhooks() {
    const listed = await this.#triggers();
    const text = (value) => (typeof value === 'string' ? value : '');
    return (Array.isArray(listed.minted) ? listed.minted : []).map((m) => ({
      name: text(m.name),
      label: text(m.label),
      url: text(m.url),
    }));
  }

  #triggers() {
    return this.#api('GET', `/_dev/api/triggers?app=${encode(this.name)}&company=${encode(this.#company)}`);
  }

  /** What a run the dev API fired came to, its log kept. */
  #runAnswer(run) {
    this.#keepLogs(run);
    this.#raiseHandlerFailure();
    const status = typeof run.status === 'number' ? run.status : 0;
    return status === 200 ? Answer.done() : Answer.error(status, typeof run.error === 'string' ? run.error : '');
  }

  #keepLogs(sent) {
    const lines = Array.isArray(sent?.logs) ? sent.logs : [];
    this.#lastLogs = lines.map((line) => `${line?.level ?? ''} ${line?.message ?? ''}`);
  }

  /** Fails the test at the event whose outbound call made a handler throw. */
  #raiseHandlerFailure() {
    const error = this.#failed.error;
    if (error) {
      this.#failed.error = undefined;
      throw error;
    }
  }

  async #get(space, company, key) {
    const read = await this.#api('GET', this.#dataQuery(space, company, key));
    return typeof read.value_base64 === 'string' ? Buffer.from(read.value_base64, 'base64') : undefined;
  }

  async #set(space, company, key, value) {
    const body = { app: this.name, company, space, key, value_base64: toBytes(value).toString('base64') };
    await this.#api('PUT', '/_dev/api/data', body);
  }

  #dataQuery(space, company, key) {
    let query = `/_dev/api/data?app=${encode(this.name)}&company=${encode(company)}&space=${space}`;
    if (key !== undefined) query += `&key=${encode(key)}`;
    return query;
  }

  /** One call to the dev host's API; throws, with the host's log, when it answers anything but 200. */
  async #api(method, target, body) {
    const { status, answer } = await this.#tryApi(method, target, body);
    if (status !== 200) this.#refused(method, target, status, answer);
    return answer;
  }

  #refused(method, target, status, answer) {
    throw new Error(`keruj-host refused ${method} ${target}: ${status} ${errorText(answer)}\nits log:\n${this.hostLog()}`);
  }

  /** One call to the dev host's API: its status and JSON answer (the text when not JSON). */
  async #tryApi(method, target, body) {
    const headers = [['content-type', 'application/json']];
    let response;
    try {
      response = await call(this.#host.addr, method, target, headers, body === undefined ? undefined : JSON.stringify(body));
    } catch (error) {
      throw new Error(`${error.message}\nthe host's log:\n${this.hostLog()}`);
    }
    const text = response.body.toString('utf8');
    let answer;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = text;
    }
    return { status: response.status, answer };
  }

  /** Fails when the host serves no app of this name, with its reason. */
  async #checkLoaded() {
    const { answer } = await this.#tryApi('GET', '/_dev/api/apps');
    const apps = Array.isArray(answer?.apps) ? answer.apps : [];
    const app = apps.find((a) => a.app === this.name);
    if (app?.ok === true) return;
    if (app) throw new Error(`keruj-host cannot load ${this.name}: ${app.problem ?? '(no reason given)'}`);
    throw new Error(`keruj-host does not serve ${this.name}; its log:\n${this.hostLog()}`);
  }
}

/** The folders of apps not closed yet: deleted when node exits (after binary.js killed their hosts). */
const openFolders = new Set();
process.once('exit', () => {
  for (const folder of openFolders) rmSync(folder, { recursive: true, force: true });
});

/** Only the static starters make a TestApp. */
const START = Symbol('start');

/** The dev API's error text: its JSON `error`, else the answer itself. */
function errorText(answer) {
  if (typeof answer?.error === 'string') return answer.error;
  return typeof answer === 'string' ? answer : JSON.stringify(answer);
}

/** package.json's `name` without its scope; the folder's name without one. */
function packageName(dir) {
  try {
    const name = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name;
    if (typeof name === 'string' && name) return name.replace(/^@[^/]+\//, '');
  } catch {}
  return basename(dir);
}

/** Every file under `dir`, recursively ([] when there is none). */
function filesUnder(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path);
    return entry.isFile() ? [path] : [];
  });
}

/**
 * A delivery's answer, `{status, message}`, with `expectAccepted()` (not
 * enumerable: the object still deep-equals a plain `{status, message}`).
 */
function delivery(status, message) {
  const answer = { status, message };
  Object.defineProperty(answer, 'expectAccepted', {
    value() {
      if (status !== 200) throw new Error(`expected the delivery accepted, got ${status}: ${message}`);
    },
  });
  return answer;
}
