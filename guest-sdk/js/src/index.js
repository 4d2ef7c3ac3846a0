// @keruj/guest: write Keruj integration apps for keruj-host in JavaScript or
// TypeScript. `export default app({ handle(ctx, event) { ... } })` and build
// with `keruj-guest-build` (see README.md).

export { app, done, KerujError } from './app.js';
export { INSTALL, CONFIGURE, UPDATE, UNINSTALL, Submission, Delivery } from './event.js';
export {
  Form, Element, FormError, MAX_ELEMENTS, MAX_REPLY_BYTES, ELEMENT_TYPES,
  text, password, textarea, number, checkbox, select, info, isEventName,
} from './form.js';
export { log, kv, secrets, config, http, keruj, schedules, webhooks, Response } from './capabilities.js';
export { utf8Encode, utf8Decode } from './bytes.js';
