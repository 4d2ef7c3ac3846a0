// Keruj events, typed: the same classification as `keruj_guest::event`.

/** Keruj installed the app for a company. */
export const INSTALL = 'application_install';
/** The user opened the app's settings. */
export const CONFIGURE = 'application_configure';
/** Keruj updated the app's installation. */
export const UPDATE = 'application_update';
/** Keruj uninstalled the app; the host deletes the company's data afterwards. */
export const UNINSTALL = 'application_uninstall';

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

/**
 * Classifies a body by its event name. A non-system event that carries a
 * `data` object is a form submission.
 */
export function eventFromBody(name, body) {
  const data = isObject(body) && isObject(body.data) ? body.data : undefined;
  switch (name) {
    case INSTALL: return { kind: 'install', data: data ?? {} };
    case CONFIGURE: return { kind: 'configure' };
    case UPDATE: return { kind: 'update', data: data ?? {} };
    case UNINSTALL: return { kind: 'uninstall' };
    default:
      return data !== undefined ? new Submission(name, data) : { kind: 'other', name, body };
  }
}
