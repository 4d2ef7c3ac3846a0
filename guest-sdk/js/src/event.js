// Keruj events, typed: the same classification as `keruj_guest::event`.

/** Keruj installed the app for a company. */
export const INSTALL = 'application_install';
/** The user opened the app's settings. */
export const CONFIGURE = 'application_configure';
/** Keruj updated the app's installation. */
export const UPDATE = 'application_update';
/** Keruj uninstalled the app; the host deletes the company's data afterwards. */
export const UNINSTALL = 'application_uninstall';

import { KerujError } from './error.js';

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The answers of a submitted form, with typed getters. */
export class Submission {
  constructor(name, data) {
    this.kind = 'submit';
    /** The event the form named in its `reply`. */
    this.name = name;
    /** The user's answers by element name. */
    this.data = data;
  }

  /** The raw answer `field`. */
  get(field) {
    return Object.hasOwn(this.data, field) ? this.data[field] : undefined;
  }

  /** The answer as trimmed text; undefined when absent, blank or not text. */
  text(field) {
    const value = this.get(field);
    if (typeof value !== 'string') return undefined;
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  }

  /** The answer as a finite number (a JSON number or numeric text); else undefined. */
  number(field) {
    const value = this.get(field);
    if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
    if (typeof value === 'string' && value.trim() !== '') {
      const parsed = Number(value.trim());
      return Number.isFinite(parsed) ? parsed : undefined;
    }
    return undefined;
  }

  /** Whether a checkbox was ticked: `true`, `"true"`, `"on"`, `"1"` or `1`. */
  checked(field) {
    const value = this.get(field);
    return value === true || value === 1 || ['true', 'on', '1'].includes(typeof value === 'string' ? value.trim().toLowerCase() : '');
  }

  /** The answer if it is one of `options` (a select's values); else undefined. */
  choice(field, options) {
    const value = this.text(field);
    return value !== undefined && options.includes(value) ? value : undefined;
  }
}

/** A webhook delivery: a request a third party sent to the company's URL, verified by the host. */
export class Delivery {
  constructor({ event, name, label = '', id, method, query, headers, body }) {
    this.kind = 'webhook';
    /** The event the sidecar's `[[webhook]]` names. */
    this.event = event;
    /** The webhook's `name` in the sidecar (the key of its URL in `ctx.webhooks`). */
    this.name = name;
    /** The label given to `webhooks.mint` for a minted URL; `''` for the sidecar's URL. */
    this.label = label;
    /** The delivery's id (the provider's, or the host's when it sent none). */
    this.id = id;
    /** The request's method, as `POST`. */
    this.method = method;
    /** The URL's raw query, without `?`; `''` when none. */
    this.query = query;
    /** The request's headers as `[name, value]` pairs, in order (a name may repeat). */
    this.headers = headers;
    /** The request's body as UTF-8 text. */
    this.body = body;
  }

  /** The first header `name` (any case), or undefined. */
  header(name) {
    const lower = name.toLowerCase();
    return this.headers.find(([key]) => key.toLowerCase() === lower)?.[1];
  }

  /** The body read as JSON; throws a KerujError when it is not JSON. */
  json() {
    try {
      return JSON.parse(this.body);
    } catch (error) {
      throw new KerujError(`the delivery's body is not JSON: ${error.message}`);
    }
  }
}

const isString = (v) => typeof v === 'string';

/**
 * `{ kind: 'scheduled', ... }` for a well-formed `schedule` object, else
 * undefined. A sidecar `[[schedule]]`'s run has no `id` (`''`, as for an id
 * that is not text, like Rust) and no `payload` (`null`).
 */
function scheduled(schedule) {
  const { id, event, due, attempt, payload = null } = schedule;
  // `attempt` as Rust's u32.
  if (!isString(event) || !isString(due) || !Number.isInteger(attempt) || attempt < 0 || attempt > 0xffffffff) {
    return undefined;
  }
  return { kind: 'scheduled', id: isString(id) ? id : '', event, due, attempt, payload };
}

/** A Delivery for a well-formed `webhook` object, else undefined. */
function delivery(event, webhook) {
  const { name, label, id, method, query, headers, body } = webhook;
  if (![name, id, method, query, body].every(isString)) return undefined;
  const pair = (h) => Array.isArray(h) && h.length === 2 && isString(h[0]) && isString(h[1]);
  if (!Array.isArray(headers) || !headers.every(pair)) return undefined;
  // No `label` (or one that is not text, like Rust): a delivery to the sidecar's URL.
  return new Delivery({
    event, name, label: isString(label) ? label : '', id, method, query, headers: headers.map(([k, v]) => [k, v]), body,
  });
}

/**
 * Classifies a body by its event name. For a non-system event: a `schedule`
 * object makes a scheduled run, a `webhook` object a webhook delivery
 * (either one with fields of other types: `other`), then a `data` object
 * makes a form submission.
 */
export function eventFromBody(name, body) {
  const data = isObject(body) && isObject(body.data) ? body.data : undefined;
  switch (name) {
    case INSTALL: return { kind: 'install', data: data ?? {} };
    case CONFIGURE: return { kind: 'configure' };
    case UPDATE: return { kind: 'update', data: data ?? {} };
    case UNINSTALL: return { kind: 'uninstall' };
    default: {
      const other = { kind: 'other', name, body };
      if (isObject(body) && isObject(body.schedule)) return scheduled(body.schedule) ?? other;
      if (isObject(body) && isObject(body.webhook)) return delivery(name, body.webhook) ?? other;
      return data !== undefined ? new Submission(name, data) : other;
    }
  }
}

/**
 * The company's webhook URLs by name, from an event's body: `{}` when it has
 * none (the app declares no `[[webhook]]`). Entries that are not text are left out.
 */
export function webhooksFromBody(body) {
  const entries = isObject(body) && isObject(body.webhooks) ? Object.entries(body.webhooks) : [];
  return Object.freeze(Object.fromEntries(entries.filter(([, url]) => isString(url))));
}
