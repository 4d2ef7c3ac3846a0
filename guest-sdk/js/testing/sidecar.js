// The app's sidecar (`<app>.toml`) written from JS values: the few TOML
// shapes a sidecar holds (scalars, arrays, `[config]`, `[[schedule]]`,
// `[[webhook]]`), without a TOML package in the SDK.

/** The sidecar's text for the options: `sidecar`, then `allowed_hosts`, `[config]`, `[[schedule]]`, `[[webhook]]`. */
export function sidecarText(options = {}) {
  const settings = { ...(options.sidecar ?? {}) };
  settings.allowed_hosts = [...(options.allowHosts ?? [])];
  settings.config = Object.fromEntries(Object.entries(options.config ?? {}).map(([key, value]) => [key, String(value)]));
  const push = (key, tables) => {
    if (!tables?.length) return;
    const before = settings[key] === undefined ? [] : settings[key];
    if (!Array.isArray(before)) throw new TypeError(`the sidecar option's ${key} must be an array of tables`);
    settings[key] = [...before, ...tables];
  };
  push('schedule', (options.schedules ?? []).map(({ event, every }) => ({ event, every })));
  push('webhook', (options.webhooks ?? []).map(({ name, event, verify, secret }) => ({ name, event, verify, secret })));
  return toToml(settings);
}

/**
 * `settings` as a TOML document: plain keys first, then tables, then arrays
 * of tables (TOML wants tables after the plain keys). `null` and `undefined`
 * are left out.
 */
export function toToml(settings) {
  let plain = '';
  let tables = '';
  for (const [key, value] of Object.entries(settings)) {
    if (value === null || value === undefined) continue;
    if (isTable(value)) {
      tables += `\n[${keyText(key)}]\n${fields(value)}`;
    } else if (Array.isArray(value) && value.length > 0 && value.every(isTable)) {
      for (const item of value) tables += `\n[[${keyText(key)}]]\n${fields(item)}`;
    } else {
      plain += `${keyText(key)} = ${inline(value)}\n`;
    }
  }
  return plain + tables;
}

function isTable(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function set(table) {
  return Object.entries(table).filter(([, value]) => value !== null && value !== undefined);
}

function fields(table) {
  return set(table).map(([key, value]) => `${keyText(key)} = ${inline(value)}\n`).join('');
}

/** A value on one line. */
function inline(value) {
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
  if (isTable(value)) return `{ ${set(value).map(([k, v]) => `${keyText(k)} = ${inline(v)}`).join(', ')} }`;
  if (typeof value === 'string') return basicString(value);
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'nan';
    if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  throw new TypeError(`a sidecar value cannot be ${typeof value}: ${String(value)}`);
}

/** A JSON string is a TOML basic string (the same escapes), but for DEL, which TOML wants escaped. */
function basicString(text) {
  return JSON.stringify(text).replace(/\u007f/g, '\\u007F');
}

function keyText(key) {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : basicString(key);
}
