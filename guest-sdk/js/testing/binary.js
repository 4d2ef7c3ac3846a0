// The engine: the `keruj-host` binary the author already installed, run as
// `keruj-host dev` on 127.0.0.1:0 over temporary folders. The binary, not a
// package, because it embeds wasmtime, compiled once when it was installed.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { homedir, tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The variable that names the binary, ahead of PATH. */
export const BIN_VAR = 'KERUJ_HOST_BIN';

/** How long the host may take to start and compile the app. */
export const START_TIMEOUT_MS = 120_000;

/** `host/` of the keruj-host checkout this SDK sits in, when it does: the install command can name it. */
const CHECKOUT_HOST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'host');

function isFile(path) {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** KERUJ_HOST_BIN, else `keruj-host` on PATH; else an Error saying how to install it. */
export function findBinary(env = process.env) {
  const named = env[BIN_VAR];
  if (named) {
    if (isFile(named)) return named;
    throw new Error(
      `${BIN_VAR} is ${named}, which is not a file: point it at the keruj-host binary, ` +
        'or unset it to use the one on PATH',
    );
  }
  const file = process.platform === 'win32' ? 'keruj-host.exe' : 'keruj-host';
  for (const folder of (env.PATH ?? '').split(delimiter)) {
    if (folder && isFile(join(folder, file))) return join(folder, file);
  }
  throw new Error(missingBinaryMessage());
}

/** What to do when there is no binary; `checkoutHost` is the checkout's `host/` folder, if any. */
export function missingBinaryMessage(checkoutHost = CHECKOUT_HOST) {
  const fromCheckout = existsSync(join(checkoutHost, 'Cargo.toml'))
    ? `    cargo install --locked --path ${realpathSync(checkoutHost)}\n`
    : '';
  return (
    '@keruj/guest/testing runs the app in the keruj-host binary, and none was found: not in ' +
    `${BIN_VAR}, not on PATH. Install it once (it compiles wasmtime: minutes), then run ` +
    `the tests again:\n${fromCheckout}    cargo install --locked --git ` +
    `<keruj-host repository URL> keruj-host\nor set ${BIN_VAR} to a keruj-host binary ` +
    'you built (target/release/keruj-host of a checkout).'
  );
}

/** The last `count` lines of the host's log file. */
export function logTail(log, count = 30) {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return '';
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-count).join('\n');
}

/** Every host still running, killed if node exits without closing them. */
const running = new Set();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Where the host keeps compiled functions across test runs (unless
 * KERUJ_FUNCTION_CACHE names a folder): after an edit only what changed
 * compiles again, not the whole JavaScript engine inside the component.
 * The user's cache folder, which no other user can have prepared (the host
 * refuses a folder others may write).
 */
export function functionCache() {
  const cache = process.env.XDG_CACHE_HOME || join(homedir() || tmpdir(), '.cache');
  return join(cache, 'keruj-host', 'functions');
}

/**
 * Starts `binary` serving `plugins`, its data in `data`, its log in `log`,
 * every outbound call posted to `answerUrl`; resolves once the apps are
 * loaded with `{ addr, stop }`.
 */
export async function startHost({ binary, plugins, data, log, answerUrl, kerujApiUrl }) {
  const logFd = openSync(log, 'w');
  let child;
  try {
    child = spawn(
      binary,
      [
        'dev', '--plugins', plugins, '--data', data, '--listen', '127.0.0.1:0',
        '--answer-outbound', answerUrl, '--keruj-api-url', kerujApiUrl, '--stop-with-stdin',
      ],
      // stdin stays an open pipe: --stop-with-stdin ends the host when it
      // closes, so the host goes with this process even when a test is killed.
      { env: { KERUJ_FUNCTION_CACHE: functionCache(), ...process.env, KERUJ_LOG_FORMAT: 'human' }, stdio: ['pipe', 'pipe', logFd] },
    );
  } finally {
    closeSync(logFd);
  }
  running.add(child);
  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  let exit;
  exited.then((status) => {
    exit = status;
    running.delete(child);
  });
  const spawnError = new Promise((done) => child.once('error', done));
  // Nothing here keeps node alive once the test is over: the host dies with it (stdin).
  child.unref();
  child.stdin.on('error', () => {});
  child.stdin.unref?.();
  child.stdout.unref?.();

  const stop = async () => {
    // No pid: it never started (and never exits).
    if (child.pid !== undefined && !exit) {
      child.ref(); // Node waits for its exit.
      child.kill('SIGKILL');
      await exited;
    }
    child.stdin.destroy();
    child.stdout.destroy();
  };

  const failed = async (why) => {
    const text = logTail(log);
    const hint = text.includes('unexpected argument')
      ? '\nthis keruj-host is older than @keruj/guest/testing: install the newer one (see "Test your app" in the README of @keruj/guest)'
      : '';
    await stop();
    return new Error(`${binary} dev did not start: ${why}; its log:\n${text}${hint}`);
  };

  let addr = '';
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  const ready = new Promise((done) => {
    lines.on('line', (line) => {
      // `keruj-host dev console listening on http://127.0.0.1:PORT/`
      if (line.includes(' listening on http://')) {
        addr = line.slice(line.lastIndexOf('http://') + 'http://'.length).replace(/\/+$/, '');
      } else if (line.startsWith('keruj-host apps loaded')) {
        // Every app in the folder compiled (or refused, with a reason).
        done('ready');
      }
    });
  });
  let timer;
  const timeout = new Promise((done) => {
    timer = setTimeout(() => done('timeout'), START_TIMEOUT_MS);
  });
  const outcome = await Promise.race([
    ready,
    exited.then(() => 'exited'),
    spawnError.then((error) => ({ error })),
    timeout,
  ]);
  clearTimeout(timer);
  if (outcome.error) {
    await stop().catch(() => {});
    throw new Error(`cannot start ${binary}: ${outcome.error.message}`);
  }
  if (outcome === 'exited') {
    // Let the log's last lines reach the file.
    const { code, signal } = await exited;
    throw await failed(`it exited (${signal ? `signal ${signal}` : `exit status: ${code}`})`);
  }
  if (outcome === 'timeout') throw await failed(`it was not ready in ${START_TIMEOUT_MS / 1000} s`);
  if (!/^127\.0\.0\.1:[1-9][0-9]*$/.test(addr)) {
    throw await failed(addr ? `it printed an address unread: ${addr}` : 'it printed no address');
  }
  return { addr, stop, child };
}
