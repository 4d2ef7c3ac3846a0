// What the host answered, typed: an event's Answer; and the app's outbound
// calls as the test's handler sees them (OutboundRequest) and answers them
// (OutboundResponse), with the envelope both travel in
// (`keruj-host dev --answer-outbound`).

import { inspect } from 'node:util';

import { KERUJ_API_URL } from './names.js';

/** The host's answer to one event, as Keruj would read it. */
export class Answer {
  /**
   * `kind` is `done` (200, empty body), `form` (200 with a form, already
   * validated by the host) or `error` (the status and public message Keruj gets).
   */
  constructor(kind, { form, status, message } = {}) {
    this.kind = kind;
    if (kind === 'form') this.form = form;
    this.status = kind === 'error' ? status : 200;
    if (kind === 'error') this.message = message ?? '';
  }

  static done() {
    return new Answer('done');
  }

  static form(form) {
    return new Answer('form', { form: { ...form, errors: form.errors ?? {} } });
  }

  static error(status, message) {
    return new Answer('error', { status, message });
  }

  /** `/_dev/api/send`'s (or a run's) answer, typed. */
  static of(sent) {
    const status = typeof sent?.status === 'number' ? sent.status : 0;
    const reply = sent?.reply ?? null;
    if (status === 200 && reply === null) return Answer.done();
    if (status === 200) {
      if (typeof reply !== 'object' || Array.isArray(reply)) {
        throw new Error(`the host answered a form the harness cannot read: ${JSON.stringify(reply)}`);
      }
      return Answer.form(reply);
    }
    return Answer.error(status, typeof sent?.error === 'string' ? sent.error : '');
  }

  /** Throws, saying what came instead, unless the answer is done. */
  expectDone() {
    if (this.kind !== 'done') throw new Error(`expected done, got ${this}`);
  }

  /** The form (`reply`, `title`, `elements`, `errors`...); throws, saying what came instead, if it is not one. */
  expectForm() {
    if (this.kind !== 'form') throw new Error(`expected a form, got ${this}`);
    return this.form;
  }

  /** `{status, message}` of an error; throws if the event succeeded. */
  expectError() {
    if (this.kind !== 'error') throw new Error(`expected an error, got ${this}`);
    return { status: this.status, message: this.message };
  }

  toString() {
    if (this.kind === 'done') return 'done (200, empty body)';
    if (this.kind === 'form') return `the form ${JSON.stringify(this.form)}`;
    return `error ${this.status}: ${this.message}`;
  }

  [inspect.custom]() {
    return `Answer(${this})`;
  }
}

/** One outbound request as it would have left the host, after the app's grant allowed it. */
export class OutboundRequest {
  constructor({ method, url, headers = [], body = Buffer.alloc(0) }) {
    /** `GET`, `POST`, ... */
    this.method = method;
    /** The full URL the app asked for (or KERUJ_API_URL). */
    this.url = url;
    /** `[name, value]` pairs in the order sent; names lower case, as the host sent them. */
    this.headers = headers;
    /** The body as sent (empty for none). */
    this.body = Buffer.from(body);
  }

  /** The first value of header `name` (any case), or undefined. */
  header(name) {
    const lower = name.toLowerCase();
    return this.headers.find(([n]) => n.toLowerCase() === lower)?.[1];
  }

  /** The URL's host, lower case, without the port (`api.example.com`); '' when it has none. */
  host() {
    try {
      return new URL(this.url).hostname.replace(/^\[(.*)\]$/, '$1');
    } catch {
      return '';
    }
  }

  /** The URL's path (`/v2.0/json/`), `/` when it has none. */
  path() {
    try {
      return new URL(this.url).pathname || '/';
    } catch {
      return '';
    }
  }

  /** The body as UTF-8 text. */
  text() {
    return this.body.toString('utf8');
  }

  /** The body as JSON; null when it is not JSON. */
  json() {
    try {
      return JSON.parse(this.text());
    } catch {
      return null;
    }
  }
}

/** The answer a handler gives to one request. Immutable: `with*` return new answers. */
export class OutboundResponse {
  constructor(status = 200, headers = [], body = Buffer.alloc(0)) {
    this.status = status;
    this.headers = headers;
    this.body = Buffer.from(body);
    Object.freeze(this);
  }

  /** An empty answer with `status`. */
  static empty(status = 200) {
    return new OutboundResponse(status);
  }

  /** 200 with `value` as `application/json`. */
  static json(value) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`OutboundResponse.json: ${String(value)} is not JSON`);
    return new OutboundResponse(200, [['content-type', 'application/json']], Buffer.from(text));
  }

  /** 200 with `text` as `text/plain`. */
  static text(text) {
    return new OutboundResponse(200, [['content-type', 'text/plain; charset=utf-8']], Buffer.from(String(text)));
  }

  /** The same answer with another status (a 3xx with `location` is followed as a redirect). */
  withStatus(status) {
    return new OutboundResponse(status, this.headers, this.body);
  }

  /** The same answer with one more header. */
  withHeader(name, value) {
    return new OutboundResponse(this.status, [...this.headers, [name, String(value)]], this.body);
  }

  /** The same answer with another body (text as UTF-8). */
  withBody(body) {
    return new OutboundResponse(this.status, this.headers, toBytes(body));
  }

  /**
   * What a handler returned, as an answer: an OutboundResponse, or a plain
   * object `{status = 200, headers = [], body}` (body text or bytes) or
   * `{status, headers, json}`. Throws on anything else.
   */
  static from(value) {
    if (value instanceof OutboundResponse) return value;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new TypeError(`a handler must return an OutboundResponse or {status, headers, body}, not ${inspect(value)}`);
    }
    const status = value.status ?? 200;
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      throw new TypeError(`a handler's status must be an HTTP status, not ${inspect(status)}`);
    }
    let headers = headerPairs(value.headers ?? []);
    let body;
    if ('json' in value && value.json !== undefined) {
      body = Buffer.from(JSON.stringify(value.json));
      if (!headers.some(([name]) => name.toLowerCase() === 'content-type')) {
        headers = [...headers, ['content-type', 'application/json']];
      }
    } else {
      body = toBytes(value.body);
    }
    return new OutboundResponse(status, headers, body);
  }
}

/** `[name, value]` pairs from pairs or an object. */
export function headerPairs(headers) {
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers ?? {});
  return pairs.map((pair) => {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new TypeError(`a header is a [name, value] pair, not ${inspect(pair)}`);
    }
    return [String(pair[0]), String(pair[1])];
  });
}

/** Text as UTF-8, bytes as they are, nothing as empty. */
export function toBytes(body) {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  throw new TypeError(`a body is text or bytes, not ${inspect(body)}`);
}

/** The call the host posted: `{method, url, headers: [[n, v]], body_base64}`. Throws when it is not one. */
export function readEnvelope(bytes) {
  const value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  const text = (key) => (typeof value?.[key] === 'string' ? value[key] : '');
  const headers = (Array.isArray(value?.headers) ? value.headers : [])
    .filter((pair) => Array.isArray(pair) && typeof pair[0] === 'string' && typeof pair[1] === 'string')
    .map(([name, v]) => [name, v]);
  const encoded = text('body_base64');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded.trim())) throw new Error('body_base64 is not base64');
  return new OutboundRequest({ method: text('method'), url: text('url'), headers, body: Buffer.from(encoded, 'base64') });
}

/** The handler's answer as the host reads it: `{status, headers: [[n, v]], body_base64}`. */
export function writeEnvelope(response) {
  return JSON.stringify({
    status: response.status,
    headers: response.headers,
    body_base64: Buffer.from(response.body).toString('base64'),
  });
}

/** What the app's outbound server does with each call the host posts: record it, ask the handler, answer. */
export function answerer({ onHttp, onKerujApi, requests, failed }) {
  return async (body) => {
    let request;
    try {
      request = readEnvelope(body);
    } catch (error) {
      return { status: 400, body: error.message };
    }
    requests.push(request);
    const [handler, what] = request.url === KERUJ_API_URL ? [onKerujApi, 'onKerujApi'] : [onHttp, 'onHttp'];
    let response;
    if (!handler) {
      response = OutboundResponse.text(
        `keruj-test: the test gave no ${what} handler for ${request.method} ${request.url}`,
      ).withStatus(502);
    } else {
      try {
        response = OutboundResponse.from(await handler(request));
      } catch (error) {
        const why = error instanceof Error ? error.message : inspect(error);
        const failure = new Error(`the ${what} handler failed on ${request.method} ${request.url}: ${why}`, { cause: error });
        failed.error ??= failure;
        response = OutboundResponse.text("the test's handler failed").withStatus(500);
      }
    }
    return { status: 200, body: writeEnvelope(response) };
  };
}
