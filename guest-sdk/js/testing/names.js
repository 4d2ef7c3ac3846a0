// The harness's fixed names, and the host's rules for names it is given.

/** The `account_id` the harness sends with every event. */
export const ACCOUNT_ID = 'test-account';

/** The company events go to until `install` or `useCompany` picks another. */
export const DEFAULT_COMPANY = 'test-company';

/** Keruj's API URL as the harness configures it: calls to it go to `onKerujApi`, never to Keruj. */
export const KERUJ_API_URL = 'https://api.keruj.test/api/graphql';

/** The host's rule for an app id (its file name in the plugins folder). */
export function isAppName(name) {
  return typeof name === 'string' && /^[a-z0-9][a-z0-9_-]{0,62}$/.test(name);
}

/** `text` percent-encoded for a query string (all but the unreserved). */
export function encode(text) {
  let encoded = '';
  for (const byte of Buffer.from(String(text), 'utf8')) {
    const char = String.fromCharCode(byte);
    encoded += /[A-Za-z0-9\-_.~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}
