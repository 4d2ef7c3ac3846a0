// Types of @keruj/guest/testing, written by hand (see README.md, "Test your app").

/** The `account_id` the harness sends with every event. */
export const ACCOUNT_ID: 'test-account';
/** The company events go to until `install` or `useCompany` picks another. */
export const DEFAULT_COMPANY: 'test-company';
/** Keruj's API URL as the harness configures it: calls to it go to `onKerujApi`, never to Keruj. */
export const KERUJ_API_URL: 'https://api.keruj.test/api/graphql';
/** The variable that names the keruj-host binary, ahead of PATH. */
export const BIN_VAR: 'KERUJ_HOST_BIN';

/** KERUJ_HOST_BIN, else `keruj-host` on PATH; throws, saying how to install it, when there is none. */
export function findBinary(env?: Record<string, string | undefined>): string;

/** JSON as the host sends it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A form as the host sent it (already validated by the host). */
export interface AnsweredForm {
  reply: string;
  title: string;
  description?: string;
  elements: Array<{ type: string; name: string; label?: string; [key: string]: unknown }>;
  /** Error messages by element name; `{}` when none. */
  errors: { [element: string]: string };
  [key: string]: unknown;
}

/** The host's answer to one event, as Keruj would read it. */
export class Answer {
  /** `done`: 200, empty body; `form`: 200 with a form; `error`: what Keruj gets instead. */
  readonly kind: 'done' | 'form' | 'error';
  /** The form, when `kind` is `form`. */
  readonly form?: AnsweredForm;
  /** The HTTP status Keruj gets (200 for done and form). */
  readonly status: number;
  /** The public error message, when `kind` is `error` (the app's own words go to the log only). */
  readonly message?: string;
  /** Throws, saying what came instead, unless the answer is done. */
  expectDone(): void;
  /** The form; throws, saying what came instead, if it is not one. */
  expectForm(): AnsweredForm;
  /** The status and message of an error; throws if the event succeeded. */
  expectError(): { status: number; message: string };
  toString(): string;
}

/** What the host answered a webhook delivery: what the third party gets. */
export interface Delivery {
  /** 200 (handled, or a retry of one handled before), 401 (not verified), 404, 409, 500, 503. */
  status: number;
  /** Why it was not 200; `''` on 200. */
  message: string;
  /** Throws, saying what came instead, unless the host answered 200. */
  expectAccepted(): void;
}

/** One outbound request as it would have left the host, after the app's grant allowed it. */
export class OutboundRequest {
  /** A request as the host would post it: for testing a handler on its own. */
  constructor(init: { method: string; url: string; headers?: [string, string][]; body?: Uint8Array | string });
  /** `GET`, `POST`, ... */
  readonly method: string;
  /** The full URL the app asked for (or KERUJ_API_URL). */
  readonly url: string;
  /** `[name, value]` pairs in the order sent; names lower case. */
  readonly headers: [string, string][];
  /** The body as sent (empty for none). */
  readonly body: Buffer;
  /** The first value of header `name` (any case), or undefined. */
  header(name: string): string | undefined;
  /** The URL's host, lower case, without the port (`api.example.com`). */
  host(): string;
  /** The URL's path, `/` when it has none. */
  path(): string;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body as JSON; null when it is not JSON. */
  json<T = Json>(): T | null;
}

/** The answer a handler gives to one request. Immutable: `with*` return new answers. */
export class OutboundResponse {
  constructor(status?: number, headers?: [string, string][], body?: Uint8Array | string);
  readonly status: number;
  readonly headers: [string, string][];
  readonly body: Buffer;
  /** An empty answer with `status` (default 200). */
  static empty(status?: number): OutboundResponse;
  /** 200 with `value` as `application/json`. */
  static json(value: unknown): OutboundResponse;
  /** 200 with `text` as `text/plain`. */
  static text(text: string): OutboundResponse;
  /** An OutboundResponse, or a plain answer, as the harness reads it. */
  static from(value: HandlerAnswer): OutboundResponse;
  /** The same answer with another status (a 3xx with `location` is followed as a redirect). */
  withStatus(status: number): OutboundResponse;
  /** The same answer with one more header. */
  withHeader(name: string, value: string): OutboundResponse;
  /** The same answer with another body (text as UTF-8). */
  withBody(body: Uint8Array | string): OutboundResponse;
}

/** A plain answer: `status` 200, no headers and an empty body unless given; `json` is sent as `application/json`. */
export interface PlainAnswer {
  status?: number;
  headers?: [string, string][] | Record<string, string>;
  body?: string | Uint8Array;
  json?: unknown;
}

export type HandlerAnswer = OutboundResponse | PlainAnswer;

/** Answers one outbound request; throwing fails the test at the event that made the call (the app gets 500). */
export type Handler = (request: OutboundRequest) => HandlerAnswer | Promise<HandlerAnswer>;

/** How a TestApp is set up: the app's sidecar and the handlers of its outbound calls. */
export interface TestAppOptions {
  /** The app id [default: package.json's `name` without the scope for `build`, the file stem for `load`]. */
  name?: string;
  /** The sidecar's `allowed_hosts` (`host[:port]`): a call to any other host is refused before a handler sees it. */
  allowHosts?: string[];
  /** The sidecar's `[config]`, read by `config.get`. */
  config?: Record<string, string | number | boolean>;
  /** Other sidecar settings, as in `<app>.toml`: `timeout_ms`, `memory_mb`, `http_timeout_ms`... */
  sidecar?: Record<string, unknown>;
  /** `[[schedule]]` tables: run one now with `runSchedule(event)`. */
  schedules?: Array<{ event: string; every: string }>;
  /** `[[webhook]]` tables: `verify` is `none`, `github`, `standard-webhooks`, `stripe` or `shopify`; `secret` `secret:<name>` or `env:<VAR>`. */
  webhooks?: Array<{ name: string; event: string; verify: string; secret?: string }>;
  /** Answers the app's outbound HTTP (`http` and `fetch`); without it such a call gets 502. */
  onHttp?: Handler;
  /** Answers the app's Keruj API calls (`keruj.graphql`, posted to KERUJ_API_URL); without it they get 502. */
  onKerujApi?: Handler;
  /** The keruj-host binary [default: KERUJ_HOST_BIN, else the one on PATH]. */
  binary?: string;
}

export interface BuildOptions extends TestAppOptions {
  /** The app module, relative to the app's folder [default: `src/app.ts` if it exists, else `src/app.js`]. */
  entry?: string;
}

/** A schedule the app made for the company. */
export interface MadeSchedule {
  /** The id `schedules` returned to the app. */
  id: string;
  /** The event its runs arrive as. */
  event: string;
  /** Whether it runs once (`at`, `after`) rather than repeatedly. */
  once: boolean;
  /** What each run carries as `payload`. */
  payload: Json;
}

/** A webhook URL the app minted. */
export interface MintedWebhook {
  /** The sidecar `[[webhook]]` it delivers as. */
  name: string;
  label: string;
  url: string;
}

/** An app served by `keruj-host dev` on a temporary folder, driven as Keruj drives it. Close it when done. */
export class TestApp implements AsyncDisposable {
  private constructor();
  /** Builds the app in `appDir` with the SDK's own build and serves it. */
  static build(appDir: string, options?: BuildOptions): Promise<TestApp>;
  /** Serves the component at `wasmPath`. */
  static load(wasmPath: string, options?: TestAppOptions): Promise<TestApp>;
  /** Stops the host and the handlers' server and deletes the folder; nothing keeps node alive after it. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;

  /** The app id. */
  readonly name: string;
  /** The host's address, `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The temporary folder of the host's plugins, data and log. */
  readonly folder: string;
  /** The company events go to now. */
  company(): string;
  /** Sends the next events for `company`, without installing. */
  useCompany(company: string): void;
  /** The `account_api_key` the install of `company` carried. */
  apiKey(company: string): string | undefined;
  /** Every outbound request the app made so far, Keruj API calls included, in order. */
  requests(): OutboundRequest[];
  /** What the app logged during the last event, schedule run or delivery, as `LEVEL message` lines. */
  lastLogs(): string[];
  /** The last lines of the host's own log. */
  hostLog(): string;

  /** `application_install` for `company`; the next events go to it. */
  install(company?: string): Promise<Answer>;
  /** `application_configure` for the current company. */
  configure(): Promise<Answer>;
  /** A form's answers: the event `reply` with `data`, answers by element name. */
  submit(reply: string, data?: Record<string, Json>): Promise<Answer>;
  /** `application_uninstall` for the current company. */
  uninstall(): Promise<Answer>;
  /** Any event `name`; `body`'s fields go beside `event`, `company_id` and `account_id` (added when absent). */
  event(name: string, body?: Record<string, Json>): Promise<Answer>;

  /** What the app stored in `kv` under `key` for `company`. */
  kvGet(company: string, key: string): Promise<Buffer | undefined>;
  /** `kvGet` read as JSON. */
  kvGetJson<T = Json>(company: string, key: string): Promise<T | undefined>;
  /** The names stored in `kv` for `company`, in order. */
  kvKeys(company: string): Promise<string[]>;
  /** Stores `value` in `kv` for `company` (installed). */
  kvSet(company: string, key: string, value: string | Uint8Array): Promise<void>;
  /** The secret `name` of `company`, decrypted. */
  secretGet(company: string, name: string): Promise<string | undefined>;
  /** Stores the secret `name` for `company` (installed), encrypted. */
  secretSet(company: string, name: string, value: string): Promise<void>;
  /** Whether `company` has the app installed. */
  isInstalled(company: string): Promise<boolean>;
  /** Whether `needle`'s bytes occur in any file of the host's data folder (after a flush): proves a secret is stored encrypted. */
  storedInPlaintext(needle: string | Uint8Array): Promise<boolean>;

  /** Fires the sidecar schedule of `event` for the current company now; throws when the sidecar has none. */
  runSchedule(event: string): Promise<Answer>;
  /** The current company's URL of the webhook `name` (the company must be installed). */
  webhookUrl(name: string): Promise<string>;
  /** POSTs to the current company's webhook `name` as a third party would. */
  deliverWebhook(name: string, headers?: [string, string][] | Record<string, string>, body?: string | Uint8Array): Promise<Delivery>;
  /** `deliverWebhook` to any of the host's webhook URLs (one the app minted, say). */
  deliverWebhookTo(url: string, headers?: [string, string][] | Record<string, string>, body?: string | Uint8Array): Promise<Delivery>;
  /** Delivers `body` signed as the webhook's provider would (an object goes as JSON); throws when the host cannot sign. */
  deliverSigned(name: string, body?: string | Uint8Array | Record<string, Json>): Promise<Delivery>;
  /** The schedules the app made for the current company, oldest first. */
  madeSchedules(): Promise<MadeSchedule[]>;
  /** Fires the made schedule `id` now. */
  runMadeSchedule(id: string): Promise<Answer>;
  /** The webhook URLs the app minted for the current company, oldest first. */
  mintedWebhooks(): Promise<MintedWebhook[]>;
}
