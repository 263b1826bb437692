// Shared by the browser tests: the configuration run.sh passes, Debian's chromium, keymint
// processes, JWT and schema checks.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through tests/browser/run.sh`);
  return value;
}

/** What run.sh created: one account with one key, and a keymint serving it. */
export const config = {
  get url() { return env('KEYMINT_URL'); },          // http://127.0.0.1:PORT
  get binary() { return env('KEYMINT_BINARY'); },
  get database() { return env('KEYMINT_DATABASE_URL'); },
  get account() { return env('KEYMINT_ACCOUNT'); },
  get keyId() { return env('KEYMINT_KEY_ID'); },
  get key() { return env('KEYMINT_KEY'); },
  screenshots: process.env.SCREENSHOT_DIR || path.resolve(here, '../../build/browser'),
};

/** Resolved to 127.0.0.1 by chromium alone: Swagger UI treats loopback addresses specially
 * (it skips its online validator for them), so the UI is opened as a deployment would be. */
export const PUBLIC_HOST = 'keymint.test';
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', PUBLIC_HOST]);

export function isLocal(url) {
  const { protocol, hostname } = new URL(url);
  if (protocol === 'data:' || protocol === 'blob:' || protocol === 'about:') return true;
  return LOCAL_HOSTS.has(hostname);
}

export async function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // playwright gives every launch a fresh temporary profile (--user-data-dir) and removes it.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--host-resolver-rules=MAP ${PUBLIC_HOST} 127.0.0.1`,
    ],
  });
}

/**
 * Watches every request of `page` through the DevTools protocol: anything not on this machine is
 * blocked and recorded, and so is every HTTP authentication challenge (where a browser would
 * open its username/password dialog), which is then cancelled as a user would, so the page gets
 * the 401. (playwright's own routing cannot do the latter: it leaves the challenge to headless
 * chromium, which waits on it forever; and for cross-origin requests it answers the CORS
 * preflight itself instead of letting keymint answer it.)
 */
export async function guardNetwork(context, page) {
  const offMachine = [];
  const authPrompts = [];
  const cdp = await context.newCDPSession(page);
  const send = (method, params) => cdp.send(method, params).catch(() => {}); // page may be closing
  cdp.on('Fetch.requestPaused', ({ requestId, request }) => {
    if (isLocal(request.url)) return send('Fetch.continueRequest', { requestId });
    offMachine.push(request.url);
    return send('Fetch.failRequest', { requestId, errorReason: 'BlockedByClient' });
  });
  cdp.on('Fetch.authRequired', ({ requestId, request, authChallenge }) => {
    authPrompts.push({ method: request.method, url: request.url, scheme: authChallenge.scheme });
    return send('Fetch.continueWithAuth', { requestId, authChallengeResponse: { response: 'CancelAuth' } });
  });
  await cdp.send('Fetch.enable', { handleAuthRequests: true, patterns: [{ urlPattern: '*' }] });
  return { offMachine, authPrompts };
}

export function screenshotPath(name) {
  mkdirSync(config.screenshots, { recursive: true });
  return path.join(config.screenshots, `${name}.png`);
}

/** Starts `keymint serve` on a free port with the test database; resolves once it listens. */
export function startKeymint(args = [], { env: extra = {} } = {}) {
  const child = spawn(config.binary, ['serve', '--bind', '127.0.0.1:0', '--log-format', 'json', ...args], {
    env: { ...process.env, KEYMINT_DATABASE_URL: config.database, RUST_LOG: 'keymint=debug', ...extra },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log = [];
  let buffered = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`keymint did not start:\n${buffered}`)), 15_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let entry;
        try { entry = JSON.parse(line); } catch { entry = { fields: { message: line } }; }
        log.push(entry);
        const match = /listening on (http:\/\/[0-9.:]+)/.exec(entry.fields?.message ?? '');
        if (match) { clearTimeout(timer); resolve(match[1]); }
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`keymint exited (${code}):\n${buffered}`)); });
  });
  return {
    ready,
    /** Requests keymint has handled so far: {method, path, status}. */
    handled: () => log
      .filter((entry) => entry.fields?.message === 'handled')
      .map((entry) => ({ method: entry.span?.method, path: entry.span?.path, status: entry.fields.status })),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits until `predicate()` is truthy (keymint writes its log as it answers). */
export async function eventually(predicate, what, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function jwtPart(token, index) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`not a JWT: ${token}`);
  return JSON.parse(Buffer.from(parts[index], 'base64url').toString('utf8'));
}

/** The protected header of a JWT: `alg`, `kid`, `typ`. */
export function jwtHeader(token) {
  return jwtPart(token, 0);
}

/** The claims of a JWT (the signature is checked by keymint itself, via introspection). */
export function jwtClaims(token) {
  return jwtPart(token, 1);
}

/** keymint's own word on a token: RFC 7662 introspection with the account's key. */
export async function introspect(base, token) {
  const response = await fetch(`${base}/v1/auth/introspect`, {
    method: 'POST',
    headers: { 'X-Api-Key': config.key, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  if (!response.ok) throw new Error(`introspection answered ${response.status}`);
  return response.json();
}

/**
 * Checks `value` against a (served) OpenAPI 3.1 schema: types, enums, required properties, and
 * no undocumented properties. Returns a list of problems, empty when it conforms.
 */
export function schemaProblems(document, schema, value, at = '$') {
  if (schema.$ref) {
    const target = schema.$ref.replace(/^#\//, '').split('/').reduce((node, key) => node?.[key], document);
    if (!target) return [`${at}: unresolvable ${schema.$ref}`];
    return schemaProblems(document, target, value, at);
  }
  const problems = [];
  if (schema.type) {
    const types = [].concat(schema.type);
    const actual = value === null ? 'null' : Array.isArray(value) ? 'array'
      : Number.isInteger(value) ? 'integer' : typeof value;
    const ok = types.includes(actual) || (actual === 'integer' && types.includes('number'));
    if (!ok) return [`${at}: ${JSON.stringify(value)} is ${actual}, documented ${types.join('|')}`];
  }
  if (schema.enum && !schema.enum.includes(value)) {
    problems.push(`${at}: ${JSON.stringify(value)} not one of ${schema.enum.join(', ')}`);
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const name of schema.required ?? []) {
      if (!(name in value)) problems.push(`${at}.${name}: required, missing`);
    }
    if (schema.properties) {
      for (const [name, item] of Object.entries(value)) {
        const declared = schema.properties[name];
        if (!declared) problems.push(`${at}.${name}: not in the document`);
        else problems.push(...schemaProblems(document, declared, item, `${at}.${name}`));
      }
    }
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((item, i) => problems.push(...schemaProblems(document, schema.items, item, `${at}[${i}]`)));
  }
  return problems;
}
