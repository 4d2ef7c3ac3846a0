// Types of @keruj/guest, written by hand (see README.md).

import { Form } from './form.js';

export * from './form.js';

export const INSTALL: 'application_install';
export const CONFIGURE: 'application_configure';
export const UPDATE: 'application_update';
export const UNINSTALL: 'application_uninstall';

/** JSON as Keruj sends it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The answers of a submitted form, with typed getters. */
export class Submission {
  readonly kind: 'submit';
  /** The event the form named in its `reply`. */
  readonly name: string;
  /** The user's answers by element name. */
  readonly data: { [field: string]: Json };
  /** The raw answer. */
  get(field: string): Json | undefined;
  /** The answer as trimmed text; undefined when absent, blank or not text. */
  text(field: string): string | undefined;
  /** The answer as a finite number (a JSON number or numeric text). */
  number(field: string): number | undefined;
  /** Whether a checkbox was ticked (`true`, `"true"`, `"on"`, `"1"`, `1`). */
  checked(field: string): boolean;
  /** The answer if it is one of `options`. */
  choice<T extends string>(field: string, options: readonly T[]): T | undefined;
}

/** A run of a sidecar `[[schedule]]` or of one made with `schedules`, for one company. */
export interface Scheduled {
  readonly kind: 'scheduled';
  /** The id `schedules` returned; `''` for a sidecar `[[schedule]]`. */
  readonly id: string;
  /** The event the schedule names. */
  readonly event: string;
  /** The due time this run is for, RFC 3339 in UTC (`2026-12-03T09:00:00Z`). */
  readonly due: string;
  /** 1, then 2, 3 ... when the host tries the due time again after a failure. */
  readonly attempt: number;
  /** The payload given to `schedules`; `null` for a sidecar `[[schedule]]`. */
  readonly payload: Json;
}

/** A webhook delivery: a request a third party sent to the company's URL, verified by the host. */
export class Delivery {
  readonly kind: 'webhook';
  /** The event the sidecar's `[[webhook]]` names. */
  readonly event: string;
  /** The webhook's `name` (the key of its URL in `ctx.webhooks`). */
  readonly name: string;
  /** The label given to `webhooks.mint` for a minted URL; `''` for the sidecar's URL. */
  readonly label: string;
  /** The delivery's id. */
  readonly id: string;
  /** The request's method, as `POST`. */
  readonly method: string;
  /** The URL's raw query, without `?`; `''` when none. */
  readonly query: string;
  /** The request's headers, in order (a name may repeat). */
  readonly headers: [string, string][];
  /** The request's body as UTF-8 text. */
  readonly body: string;
  /** The first header `name` (any case), or undefined. */
  header(name: string): string | undefined;
  /** The body read as JSON; throws a KerujError (`the delivery's body is not JSON: ...`) otherwise. */
  json<T = Json>(): T;
}

/** A Keruj event, by `kind`. */
export type Event =
  | { kind: 'install'; data: { [key: string]: Json } }
  | { kind: 'configure' }
  | { kind: 'update'; data: { [key: string]: Json } }
  | { kind: 'uninstall' }
  | Submission
  | Scheduled
  | Delivery
  | { kind: 'other'; name: string; body: Json };

/** Who the event is about. */
export interface Context {
  readonly companyId: string;
  /** Empty when Keruj sent none. */
  readonly accountId: string;
  readonly eventName: string;
  /** The company's webhook URLs by the sidecar's `name`; `{}` when the app declares none. */
  readonly webhooks: Readonly<Record<string, string>>;
}

/** Handled: Keruj gets 200 with an empty body. */
export const done: { readonly done: true };
export type Reply = typeof done | Form;

/** A failure whose message goes to the host's log (Keruj gets 500), without a stack trace. */
export class KerujError extends Error {}

export interface AppDefinition {
  /** Answers one event: `done` or a Form; throw to fail. May be async. */
  handle(ctx: Context, event: Event): Reply | Promise<Reply>;
  /** Whether the app can serve now; throw to say why not. */
  health?(): void | Promise<void>;
}

export interface KerujApp {
  readonly __kerujApp: true;
}

/** Declares the app: `export default app({ handle(ctx, event) { ... } })`. */
export function app(definition: AppDefinition): KerujApp;

export const log: {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
};

export const kv: {
  get(key: string): Uint8Array | undefined;
  getText(key: string): string | undefined;
  getJson<T = Json>(key: string): T | undefined;
  /** Text is stored as UTF-8. */
  set(key: string, value: Uint8Array | string): void;
  setJson(key: string, value: unknown): void;
  delete(key: string): void;
  keys(prefix?: string): string[];
};

export const secrets: {
  get(name: string): string | undefined;
  set(name: string, value: string): void;
  delete(name: string): void;
  keys(prefix?: string): string[];
};

export const config: {
  get(key: string): string | undefined;
  all(): Record<string, string>;
};

/** Request headers: an object, or `[name, value]` pairs (a name may repeat). */
export type Headers = Record<string, string> | [string, string][];

export class Response {
  readonly status: number;
  readonly headers: [string, string][];
  readonly body: Uint8Array;
  readonly ok: boolean;
  header(name: string): string | undefined;
  text(): string;
  json<T = Json>(): T;
  errorForStatus(): this;
}

/**
 * Outbound HTTP to the sidecar's `allowed_hosts`. The same shape as the Rust
 * and Python SDKs: the URL, then the body if any, then the headers.
 */
export const http: {
  send(request: { method?: string; url: string; headers?: Headers; body?: Uint8Array | string }): Response;
  get(url: string, headers?: Headers): Response;
  post(url: string, body: Uint8Array | string, headers?: Headers): Response;
  /** Sends `accept: application/json` unless `headers` names it; throws a KerujError on a non-2xx answer. */
  getJson<T = Json>(url: string, headers?: Headers): T;
  /** Sends `accept` and `content-type: application/json` unless `headers` names them; throws on non-2xx. */
  postJson<T = Json>(url: string, value: unknown, headers?: Headers): T;
};

export const keruj: {
  /** Returns the answer's `data`; throws a KerujError on GraphQL `errors`. */
  graphql<T = Json>(query: string, variables?: Record<string, unknown>): T;
};

/** When a run-time schedule runs, as `schedules.all()` reports it. */
export type Timing =
  | { kind: 'at'; when: string }
  | { kind: 'after'; seconds: number }
  | { kind: 'every'; interval: string }
  | { kind: 'cron'; expression: string; timezone: string };

/** One of the company's run-time schedules. */
export interface Schedule {
  id: string;
  /** The event each run arrives as. */
  event: string;
  timing: Timing;
  /** The payload each run carries, parsed. */
  payload: Json;
}

/**
 * Runs made at run time for the event's company: each arrives as a `scheduled`
 * event with this `id` and `payload` (any JSON value, default `null`, at most
 * 4 KiB as JSON). The adding helpers return the schedule's id; the host's
 * refusal (a bad timing, the quota, no company) throws a KerujError.
 */
export const schedules: {
  /** Once at `when`: RFC 3339 text (`2026-12-24T09:00:00+02:00`) or a Date. */
  at(event: string, when: string | Date, payload?: unknown): string;
  /** Once, `seconds` (a whole number) from now. */
  after(event: string, seconds: number, payload?: unknown): string;
  /** Repeatedly, every `interval`: `90s`, `15m`, `1h`, `1d`. */
  every(event: string, interval: string, payload?: unknown): string;
  /** Repeatedly, at the times the cron `expression` names, in the IANA `timezone` (default `''`: UTC). */
  cron(event: string, expression: string, timezone?: string, payload?: unknown): string;
  /** Oldest first. */
  all(): Schedule[];
  /** False when there was no schedule `id` (a one-off that ran is gone). */
  cancel(id: string): boolean;
};

/** A webhook URL minted with `webhooks.mint`. */
export interface Minted {
  /** The sidecar `[[webhook]]` it delivers as. */
  name: string;
  label: string;
  url: string;
}

/** Webhook URLs minted at run time for the event's company (say, one per connected shop). */
export const webhooks: {
  /** A new URL delivering as the sidecar's webhook `name`; `label` (at most 64 bytes) comes back in each delivery. */
  mint(name: string, label: string): string;
  /** Oldest first. */
  all(): Minted[];
  /** False when `url` was not a live URL minted for this company. */
  revoke(url: string): boolean;
};

export function utf8Encode(text: string): Uint8Array;
export function utf8Decode(bytes: Uint8Array): string;
