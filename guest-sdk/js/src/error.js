// The SDK's one error type, in a module of its own so that every other
// module can throw it without importing the app module (which imports them).

/**
 * A failure with a message for the host's log (Keruj gets 500, never the
 * message). Any thrown error works the same; this one says it was expected.
 */
export class KerujError extends Error {
  constructor(message) {
    super(message);
    this.name = 'KerujError';
  }
}
