// The reply format: the form an app asks Keruj to show the user.
//
// This mirrors `keruj_guest::form` (guest-sdk/src/form.rs), the format the
// host enforces, rule for rule and message for message, so a mistake shows up
// in the app's own tests rather than as a 500 from the host. The shared cases
// in guest-sdk/form-cases.json hold the Rust, JavaScript and Python checks to
// the same answers.

import { utf8Length } from './bytes.js';

/** The largest reply the host accepts, in bytes of JSON. */
export const MAX_REPLY_BYTES = 256 * 1024;
/** The most elements one form may hold. */
export const MAX_ELEMENTS = 100;
/** The kinds of form elements Keruj shows. */
export const ELEMENT_TYPES = Object.freeze([
  'text', 'password', 'textarea', 'number', 'checkbox', 'select', 'info',
]);

const FORM_FIELDS = ['reply', 'title', 'description', 'elements', 'errors'];
const ELEMENT_FIELDS = ['type', 'name', 'label', 'required', 'secret', 'options', 'value'];
const OPTION_FIELDS = ['value', 'label'];

/** Why a reply is not a valid form. */
export class FormError extends Error {
  constructor(message) {
    super(`invalid form: ${message}`);
    this.name = 'FormError';
  }
}

/** An event name as Keruj carries it: `[A-Za-z0-9_.-]{1,128}`. */
export function isEventName(name) {
  return typeof name === 'string' && /^[A-Za-z0-9_.-]{1,128}$/.test(name);
}

function isFieldName(name) {
  return /^[A-Za-z0-9_-]{1,64}$/.test(name);
}

// Rust's `char::is_whitespace` (Unicode White_Space), which `str::trim` uses;
// JavaScript's trim() also strips U+FEFF and Python's strip() U+001C-U+001F.
const WHITE_SPACE = /^[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$/;

/** Rust's `{:?}` of a string, near enough for a message. */
const quote = (s) => JSON.stringify(s);

/** One field of a form. Make it with `text()`, `select()` and the others. */
export class Element {
  constructor(type, name, label, opts = {}) {
    this.type = type;
    this.name = name;
    this.label = label;
    this.required = Boolean(opts.required);
    this.secret = Boolean(opts.secret);
    this.options = (opts.options ?? []).map((o) =>
      Array.isArray(o) ? { value: o[0], label: o[1] } : { value: o.value, label: o.label });
    this.value = opts.value ?? undefined;
  }

  /** The element as Keruj receives it (defaults left out, as in Rust). */
  toJSON() {
    const out = { type: this.type, name: this.name, label: this.label };
    if (this.required) out.required = true;
    if (this.secret) out.secret = true;
    if (this.options.length > 0) out.options = this.options.map((o) => ({ value: o.value, label: o.label }));
    if (this.value !== undefined) out.value = this.value;
    return out;
  }

  /** Checks this element alone; names across the form are the form's check. */
  validate() {
    if (!ELEMENT_TYPES.includes(this.type)) {
      throw new FormError(`unknown variant \`${this.type}\`, expected one of ${ELEMENT_TYPES.map((t) => `\`${t}\``).join(', ')}`);
    }
    if (typeof this.name !== 'string' || !isFieldName(this.name)) {
      throw new FormError(`element name ${quote(this.name)} must be 1 to 64 letters, digits, \`_\` or \`-\``);
    }
    const isSelect = this.type === 'select';
    if (isSelect && this.options.length === 0) {
      throw new FormError(`select ${quote(this.name)} has no options`);
    }
    if (!isSelect && this.options.length > 0) {
      throw new FormError(`only a select has options, not ${quote(this.name)}`);
    }
    const values = new Set();
    for (const option of this.options) {
      if (values.has(option.value)) {
        throw new FormError(`select ${quote(this.name)} offers ${quote(option.value)} twice`);
      }
      values.add(option.value);
    }
    if (!valueFits(this.value, this.type, values)) {
      throw new FormError(`element ${quote(this.name)} has a value that does not fit it`);
    }
  }
}

function valueFits(value, type, optionValues) {
  if (value === undefined || value === null) return true;
  if (typeof value === 'boolean') return type === 'checkbox';
  if (typeof value === 'number') return type === 'number' && Number.isFinite(value);
  if (typeof value === 'string') {
    if (type === 'checkbox' || type === 'number') return false;
    if (type === 'select') return optionValues.has(value);
    return true;
  }
  return false;
}

/** A one-line text field. `opts`: `{ required, secret, value }`. */
export const text = (name, label, opts) => new Element('text', name, label, opts);
/** A masked field. */
export const password = (name, label, opts) => new Element('password', name, label, opts);
/** A multi-line text field. */
export const textarea = (name, label, opts) => new Element('textarea', name, label, opts);
/** A number field; its `value`, if any, is a number. */
export const number = (name, label, opts) => new Element('number', name, label, opts);
/** A checkbox; its `value`, if any, is a boolean. */
export const checkbox = (name, label, opts) => new Element('checkbox', name, label, opts);
/** A choice among `options` (`[{value, label}]` or `[[value, label]]`). */
export const select = (name, label, options, opts = {}) =>
  new Element('select', name, label, { ...opts, options });
/** Text for the user to read; it brings no answer back. */
export const info = (name, textToShow) => new Element('info', name, textToShow);

/** A form for Keruj to show, and the event that brings the answers back. */
export class Form {
  /**
   * @param reply the event Keruj sends back with the user's data
   * @param title the form's heading
   * @param opts `{ description, elements, errors }`
   */
  constructor(reply, title, opts = {}) {
    this.reply = reply;
    this.title = title;
    this.description = opts.description ?? undefined;
    this.elements = [...(opts.elements ?? [])];
    this.errors = { ...(opts.errors ?? {}) };
  }

  /** A copy of the form with `message` shown next to the field `name`. */
  withError(name, message) {
    return new Form(this.reply, this.title, {
      description: this.description,
      elements: this.elements,
      errors: { ...this.errors, [name]: message },
    });
  }

  /** A copy with more elements. */
  withElements(...elements) {
    return new Form(this.reply, this.title, {
      description: this.description,
      elements: [...this.elements, ...elements],
      errors: this.errors,
    });
  }

  toJSON() {
    const out = { reply: this.reply, title: this.title };
    if (this.description !== undefined) out.description = this.description;
    out.elements = this.elements.map((e) => e.toJSON());
    // Rust keeps errors in a BTreeMap: sorted by key.
    const keys = Object.keys(this.errors).sort(byCodeUnits);
    if (keys.length > 0) out.errors = Object.fromEntries(keys.map((k) => [k, this.errors[k]]));
    return out;
  }

  /** The form as the JSON Keruj receives. */
  toJson() {
    return JSON.stringify(this);
  }

  /** Checks what the host checks beyond the shape: names, options, errors. */
  validate() {
    if (!isEventName(this.reply)) {
      throw new FormError(`\`reply\` must be an event name (letters, digits, \`_\`, \`-\`, \`.\`; 1 to 128), got ${quote(this.reply)}`);
    }
    if (typeof this.title !== 'string' || WHITE_SPACE.test(this.title)) {
      throw new FormError('`title` is empty');
    }
    if (this.elements.length > MAX_ELEMENTS) {
      throw new FormError(`more than ${MAX_ELEMENTS} elements`);
    }
    const names = new Set();
    for (const element of this.elements) {
      element.validate();
      if (names.has(element.name)) {
        throw new FormError(`two elements are named ${quote(element.name)}`);
      }
      names.add(element.name);
    }
    const ghost = Object.keys(this.errors).sort(byCodeUnits).find((name) => !names.has(name));
    if (ghost !== undefined) {
      throw new FormError(`\`errors\` names ${quote(ghost)}, which is not an element`);
    }
    return this;
  }

  /** Parses and validates a reply exactly as the host does. */
  static fromJson(json) {
    const size = utf8Length(json);
    if (size > MAX_REPLY_BYTES) {
      throw new FormError(`reply is ${size} bytes, over the limit of ${MAX_REPLY_BYTES}`);
    }
    let raw;
    try {
      raw = JSON.parse(json, (_key, value) => {
        if (typeof value === 'number' && !Number.isFinite(value)) {
          throw new FormError('number out of range');
        }
        return value;
      });
    } catch (error) {
      throw error instanceof FormError ? error : new FormError(error.message);
    }
    rejectDuplicateFields(json);
    return formFromValue(raw).validate();
  }
}

// Rust sorts strings by bytes; for keys of the characters Keruj uses that is
// the order of UTF-16 code units too.
function byCodeUnits(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'sequence';
  if (typeof value === 'object') return 'map';
  if (typeof value === 'string') return `string ${quote(value)}`;
  if (typeof value === 'boolean') return `boolean \`${value}\``;
  return `number \`${value}\``;
}

function expectObject(value, what) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FormError(`invalid type: ${describe(value)}, expected ${what}`);
  }
}

function checkFields(object, allowed) {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) {
      throw new FormError(`unknown field \`${key}\`, expected one of ${allowed.map((f) => `\`${f}\``).join(', ')}`);
    }
  }
}

function field(object, key, kind, { optional = false, nullable = false } = {}) {
  if (!(key in object)) {
    if (optional) return undefined;
    throw new FormError(`missing field \`${key}\``);
  }
  const value = object[key];
  if (value === null && nullable) return undefined;
  const ok = kind === 'array' ? Array.isArray(value)
    : kind === 'object' ? value !== null && typeof value === 'object' && !Array.isArray(value)
      : typeof value === kind;
  if (!ok) {
    const expected = { string: 'a string', boolean: 'a boolean', array: 'a sequence', object: 'a map' }[kind];
    throw new FormError(`invalid type: ${describe(value)}, expected ${expected}`);
  }
  return value;
}

// The shape serde checks in Rust: required fields, their types, no others.
function formFromValue(raw) {
  expectObject(raw, 'struct Form');
  checkFields(raw, FORM_FIELDS);
  const errors = field(raw, 'errors', 'object', { optional: true }) ?? {};
  for (const message of Object.values(errors)) field({ message }, 'message', 'string');
  return new Form(field(raw, 'reply', 'string'), field(raw, 'title', 'string'), {
    description: field(raw, 'description', 'string', { optional: true, nullable: true }),
    elements: field(raw, 'elements', 'array').map(elementFromValue),
    errors,
  });
}

function elementFromValue(raw) {
  expectObject(raw, 'struct Element');
  checkFields(raw, ELEMENT_FIELDS);
  const type = field(raw, 'type', 'string');
  if (!ELEMENT_TYPES.includes(type)) {
    throw new FormError(`unknown variant \`${type}\`, expected one of ${ELEMENT_TYPES.map((t) => `\`${t}\``).join(', ')}`);
  }
  const options = (field(raw, 'options', 'array', { optional: true }) ?? []).map((option) => {
    expectObject(option, 'struct SelectOption');
    checkFields(option, OPTION_FIELDS);
    return { value: field(option, 'value', 'string'), label: field(option, 'label', 'string') };
  });
  return new Element(type, field(raw, 'name', 'string'), field(raw, 'label', 'string'), {
    required: field(raw, 'required', 'boolean', { optional: true }),
    secret: field(raw, 'secret', 'boolean', { optional: true }),
    options,
    value: raw.value ?? undefined,
  });
}

// serde refuses a field given twice in a struct (the form, an element, an
// option); JSON.parse keeps the last silently. This walks the text (already
// known to be valid JSON) and checks the keys of the objects at those paths.
function rejectDuplicateFields(json) {
  const stack = []; // frames: { keys: Set|null, key: string|null, index: number, expectKey: bool }
  const isStruct = () => {
    const path = stack.slice(0, -1).map((f) => (f.keys ? f.key : f.index));
    return path.length === 0
      || (path.length === 2 && path[0] === 'elements')
      || (path.length === 4 && path[0] === 'elements' && path[2] === 'options');
  };
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    const top = stack[stack.length - 1];
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (top && top.keys && top.expectKey) {
        const key = JSON.parse(json.slice(i, j + 1));
        if (top.keys.has(key) && top.struct) throw new FormError(`duplicate field \`${key}\``);
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      stack.push({ keys: c === '{' ? new Set() : null, key: null, index: 0, expectKey: c === '{' });
      stack[stack.length - 1].struct = c === '{' && isStruct();
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top) {
      if (top.keys) top.expectKey = true;
      else top.index += 1;
    }
  }
}
