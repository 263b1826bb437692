// A browser frontend on another origin calls keymint: a static page on its own local server
// fetches a Volubile token with `X-Api-Key` and a JSON body (so chromium sends a CORS preflight
// first). keymint runs with `--cors-origin` naming that page's origin; a second page, on an
// origin keymint was not told about, must be refused by the browser, while keymint itself still
// answers (CORS is the browser's rule, not an authorization).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import {
  config, eventually, guardNetwork, introspect, jwtClaims, launchChromium, screenshotPath, startKeymint,
} from './lib.mjs';

// The page: on load, it asks keymint (?api=) for a token with the key (?key=) and shows what it got.
const PAGE = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>A frontend calling keymint</title>
<style>body { font: 15px system-ui, sans-serif; margin: 2em; } pre { background: #f4f4f4; padding: 1em; white-space: pre-wrap; word-break: break-all; }</style>
<h1>A frontend on <span id="origin"></span></h1>
<p>POST <code id="target"></code> with <code>X-Api-Key</code> and a JSON body:</p>
<pre id="result" data-state="pending">pending…</pre>
<script type="module">
  const params = new URLSearchParams(location.search);
  const api = params.get('api');
  const out = document.getElementById('result');
  document.getElementById('origin').textContent = location.origin;
  document.getElementById('target').textContent = api + '/v1/auth/token';
  const readable = ['X-Request-Id', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'RateLimit', 'RateLimit-Policy', 'Cache-Control', 'Content-Type'];
  try {
    const response = await fetch(api + '/v1/auth/token', {
      method: 'POST',
      headers: { 'X-Api-Key': params.get('key'), 'Content-Type': 'application/json' },
      body: JSON.stringify({ scope: ['calls:read'] }),
    });
    const headers = Object.fromEntries(readable.map((name) => [name, response.headers.get(name)]));
    const result = { status: response.status, headers, body: await response.json() };
    out.textContent = JSON.stringify(result, null, 2);
    out.dataset.state = 'answered';
  } catch (error) {
    out.textContent = error.name + ': ' + error.message;
    out.dataset.state = 'failed';
  }
</script>
</html>
`;

/** A local HTTP server for the page, on a free port; its origin is http://127.0.0.1:PORT. */
async function pageServer() {
  const server = createServer((req, res) => {
    if (new URL(req.url, 'http://x').pathname !== '/') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(PAGE);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

let browser;
let keymint;
let api;
let allowed;
let stranger;

before(async () => {
  allowed = await pageServer();
  stranger = await pageServer();
  keymint = startKeymint(['--cors-origin', allowed.origin]);
  api = await keymint.ready;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await keymint?.stop();
  allowed?.server.close();
  stranger?.server.close();
});

/** Opens the page of `site` in a fresh context; resolves with what it shows once done. */
async function openPage(site, key, shot) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const network = await guardNetwork(context, page);
  const query = new URLSearchParams({ api, key });
  await page.goto(`${site.origin}/?${query}`);
  const result = page.locator('#result:not([data-state="pending"])');
  await result.waitFor();
  const state = await result.getAttribute('data-state');
  const text = await result.textContent();
  await page.screenshot({ path: screenshotPath(shot), fullPage: true });
  assert.deepEqual(network.offMachine, [], 'requests off the machine');
  assert.deepEqual(network.authPrompts, [], 'the browser asked for a password');
  await context.close();
  return { state, text };
}

const handled = (method, from = 0) => keymint.handled().slice(from)
  .filter((entry) => entry.method === method && entry.path === '/v1/auth/token');

describe('CORS', { timeout: 60_000 }, () => {
  it('a page on an allowed origin gets a token, after a preflight keymint answered', async () => {
    const seen = keymint.handled().length;
    const { state, text } = await openPage(allowed, config.key, 'cors-allowed-origin');
    assert.equal(state, 'answered', text);
    const { status, headers, body } = JSON.parse(text);
    assert.equal(status, 200, text);
    assert.equal(body.tokenType, 'Bearer');
    const claims = jwtClaims(body.token);
    assert.equal(claims.sub, config.account);
    assert.equal(claims.scope, 'calls:read');
    assert.equal((await introspect(api, body.token)).active, true);

    // What keymint documents on a token response is readable by the page.
    assert.match(headers['X-Request-Id'] ?? '', /^[0-9a-f-]{36}$/, 'X-Request-Id');
    assert.equal(headers['X-RateLimit-Limit'], '100');
    assert.match(headers['X-RateLimit-Remaining'] ?? '', /^\d+$/, 'X-RateLimit-Remaining');
    assert.match(headers.RateLimit ?? '', /^"account";r=\d+;t=\d+$/, 'RateLimit');
    assert.match(headers['RateLimit-Policy'] ?? '', /^"account";q=100;w=15$/, 'RateLimit-Policy');
    assert.equal(headers['Cache-Control'], 'no-store');

    // The preflight went to keymint (not answered by the browser or the test harness) and passed.
    const preflights = await eventually(() => handled('OPTIONS', seen).length && handled('OPTIONS', seen), 'the preflight');
    assert.deepEqual(preflights.map((entry) => entry.status), [200]);
    const posts = await eventually(() => handled('POST', seen).length && handled('POST', seen), 'the POST');
    assert.deepEqual(posts.map((entry) => entry.status), [200]);
  });

  it('the allowed page reads keymint\'s error for a bad key', async () => {
    const bad = config.key.slice(0, -1) + (config.key.at(-1) === 'A' ? 'B' : 'A');
    const { state, text } = await openPage(allowed, bad, 'cors-allowed-origin-bad-key');
    assert.equal(state, 'answered', text);
    const { status, headers, body } = JSON.parse(text);
    assert.equal(status, 401, text);
    assert.equal(body.status, 401);
    assert.equal(typeof body.message, 'string');
    assert.match(headers['X-Request-Id'] ?? '', /^[0-9a-f-]{36}$/, 'X-Request-Id');
  });

  it('a page on another origin is refused by the browser, though keymint answers', async () => {
    const seen = keymint.handled().length;
    const { state, text } = await openPage(stranger, config.key, 'cors-other-origin');
    assert.equal(state, 'failed', text);
    assert.match(text, /^TypeError: Failed to fetch/);

    // keymint answered the preflight (without allowing the origin), so the POST never left.
    const preflights = await eventually(() => handled('OPTIONS', seen).length && handled('OPTIONS', seen), 'the preflight');
    assert.equal(preflights.length, 1);
    assert.notEqual(preflights[0].status, 200);
    assert.deepEqual(handled('POST', seen), []);

    // Outside a browser, the same request from that origin is answered as usual, only without
    // the header that would let a browser hand the answer to the page.
    const response = await fetch(`${api}/v1/auth/token`, {
      method: 'POST',
      headers: { Origin: stranger.origin, 'X-Api-Key': config.key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ scope: ['calls:read'] }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('access-control-allow-origin'), null);
    assert.equal(jwtClaims((await response.json()).token).sub, config.account);
  });

  it('answers the preflight as the allowed page needs it, and only for that origin', async () => {
    const preflight = (origin) => fetch(`${api}/v1/auth/token`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,x-api-key',
      },
    });
    const ok = await preflight(allowed.origin);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), allowed.origin);
    assert.match(ok.headers.get('access-control-allow-methods'), /\bPOST\b/);
    const allowedHeaders = ok.headers.get('access-control-allow-headers').toLowerCase();
    assert.ok(allowedHeaders.includes('x-api-key') && allowedHeaders.includes('content-type'), allowedHeaders);
    assert.match(ok.headers.get('vary') ?? '', /Origin/i);

    const refused = await preflight(stranger.origin);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
  });
});
