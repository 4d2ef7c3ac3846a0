// Helpers over the WIT imports of the world `app`. Each capability is bound
// by the host to the event's app and company. A failed call throws a
// KerujError with the host's message: let it propagate and Keruj gets 500
// with the message in the host's log, or catch it to answer otherwise.

import * as wasiLog from 'keruj:plugin/log@0.2.0';
import * as wasiKv from 'keruj:plugin/kv@0.2.0';
import * as wasiSecrets from 'keruj:plugin/secrets@0.2.0';
import * as wasiConfig from 'keruj:plugin/config@0.2.0';
import * as wasiHttp from 'keruj:plugin/http@0.2.0';
import * as wasiKeruj from 'keruj:plugin/keruj-api@0.2.0';
import * as wasiSchedules from 'keruj:plugin/schedules@0.2.0';
import * as wasiWebhooks from 'keruj:plugin/webhooks@0.2.0';

import { KerujError } from './error.js';
import { utf8Decode, utf8Encode } from './bytes.js';

/** Runs an import; its `err` (a ComponentError) becomes a KerujError. */
function call(fn, ...args) {
  try {
    return fn(...args);
  } catch (error) {
    throw new KerujError(error && error.payload !== undefined ? String(error.payload) : String(error?.message ?? error));
  }
}

const toBytes = (value) => (value instanceof Uint8Array ? value : utf8Encode(String(value)));

/** The host's log, tagged with the app, the company and the request id. */
export const log = Object.freeze({
  trace: (message) => wasiLog.write('trace', String(message)),
  debug: (message) => wasiLog.write('debug', String(message)),
  info: (message) => wasiLog.write('info', String(message)),
  warn: (message) => wasiLog.write('warn', String(message)),
  error: (message) => wasiLog.write('error', String(message)),
});

/** Data the app keeps for the event's company (keys ≤ 256 bytes, values ≤ 64 KiB). */
export const kv = Object.freeze({
  /** The bytes under `key`, or undefined. */
  get: (key) => call(wasiKv.get, key) ?? undefined,
  /** The value under `key` read as UTF-8 text, or undefined. */
  getText(key) {
    const bytes = kv.get(key);
    return bytes === undefined ? undefined : utf8Decode(bytes);
  },
  /** The value under `key` read as JSON, or undefined. */
  getJson(key) {
    const text = kv.getText(key);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new KerujError(`kv ${JSON.stringify(key)} is not JSON: ${error.message}`);
    }
  },
  /** Stores `value` (a Uint8Array, or text stored as UTF-8) under `key`. */
  set: (key, value) => call(wasiKv.set, key, toBytes(value)),
  /** Stores `value` as JSON under `key`. */
  setJson: (key, value) => call(wasiKv.set, key, utf8Encode(JSON.stringify(value))),
  /** Removes `key` (a missing key is fine). */
  delete: (key) => call(wasiKv.delete, key),
  /** The keys that start with `prefix`, in order. */
  keys: (prefix = '') => call(wasiKv.keys, prefix),
});

/** Secrets the app keeps for the event's company, stored encrypted. */
export const secrets = Object.freeze({
  /** The secret `name`, or undefined. */
  get: (name) => call(wasiSecrets.get, name) ?? undefined,
  /** Stores the secret `name`. */
  set: (name, value) => call(wasiSecrets.set, name, String(value)),
  /** Removes the secret `name` (a missing one is fine). */
  delete: (name) => call(wasiSecrets.delete, name),
  /** The names of the stored secrets that start with `prefix`, in order. */
  keys: (prefix = '') => call(wasiSecrets.keys, prefix),
});

/** The non-secret settings of the app's sidecar (`[config]`). */
export const config = Object.freeze({
  /** The setting `key`, or undefined. */
  get: (key) => wasiConfig.get(key) ?? undefined,
  /** Every setting, as an object (the host lists them sorted by key). */
  all: () => Object.fromEntries(wasiConfig.all()),
});

/** What came back from an outbound request. */
export class Response {
  constructor({ status, headers, body }) {
    /** The HTTP status. */
    this.status = status;
    /** `[name, value]` pairs, as the server sent them. */
    this.headers = headers;
    /** The body's bytes. */
    this.body = body;
  }

  /** Whether the status is 2xx. */
  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  /** The first header `name` (any case), or undefined. */
  header(name) {
    const lower = name.toLowerCase();
    return this.headers.find(([key]) => key.toLowerCase() === lower)?.[1];
  }

  /** The body as text (invalid UTF-8 replaced). */
  text() {
    return utf8Decode(this.body);
  }

  /** The body read as JSON. */
  json() {
    try {
      return JSON.parse(this.text());
    } catch (error) {
      throw new KerujError(`the answer is not JSON: ${error.message}`);
    }
  }

  /** This response if 2xx, else a KerujError naming the status. */
  errorForStatus() {
    if (!this.ok) throw new KerujError(`the server answered ${this.status}`);
    return this;
  }
}

/** `headers` (an object or `[name, value]` pairs) as `[name, value]` pairs of text. */
function headerPairs(headers = {}) {
  if (headers === null || headers === undefined) return [];
  return Array.isArray(headers) ? headers.map(([k, v]) => [String(k), String(v)])
    : Object.entries(headers).map(([k, v]) => [k, String(v)]);
}

/** The caller's `headers`, then each of `defaults` whose name (in any case) they lack. */
function withDefaults(headers, defaults) {
  const pairs = headerPairs(headers);
  const named = new Set(pairs.map(([name]) => name.toLowerCase()));
  return [...pairs, ...defaults.filter(([name]) => !named.has(name))];
}

const ACCEPT_JSON = ['accept', 'application/json'];
const CONTENT_JSON = ['content-type', 'application/json'];

/**
 * Outbound HTTP through the host (the `keruj:plugin/http` import), only to
 * the sidecar's `allowed_hosts`; a refused host, a limit or a timeout throws.
 *
 * The same shape as the Rust and Python SDKs: the URL, then the body if any,
 * then the headers (an object, or `[name, value]` pairs). The JSON helpers
 * send `accept: application/json` (posting, `content-type` too) unless
 * `headers` names them; a non-2xx answer throws a KerujError naming the status.
 */
export const http = Object.freeze({
  /** Sends `{ method, url, headers, body }`; `body` is text, bytes or absent. */
  send({ method = 'GET', url, headers = {}, body } = {}) {
    const response = call(wasiHttp.send, {
      method: String(method).toUpperCase(),
      url: String(url),
      headers: headerPairs(headers),
      body: body === undefined ? new Uint8Array(0) : toBytes(body),
    });
    return new Response(response);
  },
  /** GETs `url` with `headers`. */
  get: (url, headers) => http.send({ method: 'GET', url, headers }),
  /** POSTs `body` (text or bytes) to `url` with `headers`. */
  post: (url, body, headers) => http.send({ method: 'POST', url, headers, body }),
  /** GETs `url` with `headers` and reads a 2xx answer as JSON. */
  getJson: (url, headers = {}) =>
    http.send({ url, headers: withDefaults(headers, [ACCEPT_JSON]) }).errorForStatus().json(),
  /** POSTs `value` as JSON to `url` with `headers` and reads a 2xx answer as JSON. */
  postJson: (url, value, headers = {}) => http.send({
    method: 'POST',
    url,
    headers: withDefaults(headers, [ACCEPT_JSON, CONTENT_JSON]),
    body: JSON.stringify(value),
  }).errorForStatus().json(),
});

/** Keruj's GraphQL API on behalf of the event's company (the host adds its key). */
export const keruj = Object.freeze({
  /** Sends `query` with `variables`; returns the answer's `data`, throws on `errors`. */
  graphql(query, variables = {}) {
    const text = call(wasiKeruj.graphql, query, JSON.stringify(variables));
    let answer;
    try {
      answer = JSON.parse(text);
    } catch (error) {
      throw new KerujError(`Keruj's API answered something that is not JSON: ${error.message}`);
    }
    const errors = Array.isArray(answer?.errors) ? answer.errors : [];
    if (errors.length > 0) {
      const messages = errors.map((e) => e?.message).filter((m) => typeof m === 'string');
      throw new KerujError(`Keruj's API refused the request: ${messages.join('; ')}`);
    }
    return answer?.data ?? null;
  },
});

/** `value` as the JSON text a schedule carries: `undefined` is `null`. */
function payloadJson(value) {
  const text = JSON.stringify(value === undefined ? null : value);
  // JSON.stringify gives undefined (not an error) for a function or a symbol.
  if (text === undefined) throw new TypeError(`a schedule's payload must be a JSON value, not a ${typeof value}`);
  return text;
}

/** A listed timing, by `kind`, with the names the helpers' parameters have. */
const TIMINGS = {
  at: (when) => ({ kind: 'at', when }),
  // u64 comes back as a BigInt; any real delay fits a Number.
  after: (seconds) => ({ kind: 'after', seconds: Number(seconds) }),
  every: (interval) => ({ kind: 'every', interval }),
  cron: ({ expression, timezone }) => ({ kind: 'cron', expression, timezone }),
};

/** A listed schedule as a plain object, its payload parsed back. */
function scheduleOf({ id, event, timing, payload }) {
  let value;
  try {
    value = JSON.parse(payload);
  } catch (error) {
    throw new KerujError(`the payload of schedule ${id} is not JSON: ${error.message}`);
  }
  return { id, event, timing: TIMINGS[timing.tag](timing.val), payload: value };
}

const addSchedule = (event, timing, payload) =>
  call(wasiSchedules.add, String(event), timing, payloadJson(payload));

/**
 * Runs the app makes at run time for the event's company, beside the
 * sidecar's `[[schedule]]` tables: each run arrives as `event`, a `scheduled`
 * event whose `id` and `payload` are this schedule's. `payload` is any JSON
 * value (default null, at most 4 KiB as JSON). Each helper returns the
 * schedule's id; a bad timing, the quota (100) or an event without a company
 * throws a KerujError.
 */
export const schedules = Object.freeze({
  /** Once at `when`: RFC 3339 text (`2026-12-24T09:00:00+02:00`) or a Date. */
  at: (event, when, payload = null) =>
    addSchedule(event, { tag: 'at', val: when instanceof Date ? when.toISOString() : String(when) }, payload),
  /** Once, `seconds` (a whole number) from now. */
  after(event, seconds, payload = null) {
    // The binding takes a u64 as a BigInt, which would wrap a negative and refuse a fraction.
    if (!Number.isSafeInteger(seconds) || seconds < 0) {
      throw new TypeError(`schedules.after: seconds must be a whole number of seconds, not ${seconds}`);
    }
    return addSchedule(event, { tag: 'after', val: BigInt(seconds) }, payload);
  },
  /** Repeatedly, every `interval` (`90s`, `15m`, `1h`, `1d`). */
  every: (event, interval, payload = null) => addSchedule(event, { tag: 'every', val: String(interval) }, payload),
  /** Repeatedly, at the times the five-field cron `expression` names, in the IANA `timezone` (default UTC). */
  cron: (event, expression, timezone = '', payload = null) => addSchedule(event, {
    tag: 'cron', val: { expression: String(expression), timezone: String(timezone ?? '') },
  }, payload),
  /** The company's run-time schedules, oldest first: `{ id, event, timing, payload }`. */
  all: () => call(wasiSchedules.all).map(scheduleOf),
  /** Cancels the schedule `id`; false when there was none (a one-off that ran is gone). */
  cancel: (id) => call(wasiSchedules.cancel, String(id)),
});

/**
 * Webhook URLs minted at run time for the event's company, beside the one URL
 * per sidecar `[[webhook]]` (say, one per shop a company connects). A minted
 * URL delivers as the `[[webhook]]` it names, its `label` in the delivery.
 */
export const webhooks = Object.freeze({
  /** A new URL delivering as the sidecar's webhook `name`; `label` (≤ 64 bytes) is the app's own. */
  mint: (name, label) => call(wasiWebhooks.mint, String(name), String(label)),
  /** The company's minted URLs, oldest first: `{ name, label, url }`. */
  all: () => call(wasiWebhooks.all).map(({ name, label, url }) => ({ name, label, url })),
  /** Revokes a minted URL (it answers 404 from now on); false when it was not a live one of this company. */
  revoke: (url) => call(wasiWebhooks.revoke, String(url)),
});
