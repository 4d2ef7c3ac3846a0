// HTTP over loopback, both ways, with node's own `http`: the calls to the dev
// host's `/_dev/api` and webhook routes, and the little server that answers
// the app's outbound calls for the test.

import { createServer, request as httpRequest } from 'node:http';

import { headerPairs, toBytes } from './answer.js';

/** How long one call to the dev host may take: an event's own limit is shorter, so this only ends a test whose host hangs. */
const CALL_TIMEOUT_MS = 120_000;

/** One request to `addr` (`127.0.0.1:PORT`) on its own connection: `{status, body}` (a Buffer). */
export function call(addr, method, target, headers = [], body = undefined) {
  const bytes = toBytes(body);
  const [hostname, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const request = httpRequest({
      hostname,
      port,
      method,
      path: target,
      // No pooled connection stays behind to keep node alive.
      agent: false,
      // Pairs, flat: a name may repeat (a webhook's headers). Node adds no host to an array.
      headers: ['host', addr, ...headerPairs(headers).flat(), 'content-length', String(bytes.length), 'connection', 'close'],
      timeout: CALL_TIMEOUT_MS,
    });
    request.on('timeout', () => request.destroy(new Error(`no answer in ${CALL_TIMEOUT_MS / 1000} s`)));
    request.on('error', (error) => reject(new Error(`cannot ${method} ${target} on the keruj-host at ${addr}: ${error.message}`)));
    request.on('response', (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('error', (error) => reject(new Error(`reading the answer to ${method} ${target} failed: ${error.message}`)));
      response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(chunks) }));
    });
    request.end(bytes);
  });
}

/**
 * A server on 127.0.0.1:0 answering each request with `await answer(body)`
 * (the request's body in, `{status, body}` out). Resolves with `{url, close}`.
 */
export async function startServer(answer) {
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', async () => {
      let status;
      let body;
      try {
        ({ status, body } = await answer(Buffer.concat(chunks)));
      } catch (error) {
        [status, body] = [500, `keruj-test: ${error?.message ?? error}`];
      }
      const bytes = toBytes(body);
      response.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
      response.end(bytes);
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  // The test, not this server, decides when node ends.
  server.unref();
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
