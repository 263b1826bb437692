// Swagger UI in chromium: every dialect's document, "Authorize" and "Try it out" with the real key
// (the token is read from the rendered response and checked with keymint), then with a bad key
// (the rendered error must be the one the document declares). Nothing may be fetched from
// anywhere but keymint: every other request is blocked and fails the test. Nor may the browser
// ask for a password: a 401 must reach Swagger UI, which renders it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import {
  PUBLIC_HOST, config, guardNetwork, introspect, jwtClaims, launchChromium, schemaProblems, screenshotPath,
} from './lib.mjs';

const badKey = () => {
  // Well formed, wrong: the last character of the checksum changed.
  const last = config.key.at(-1) === 'A' ? 'B' : 'A';
  return config.key.slice(0, -1) + last;
};

/** keymint's registry (`keymint dialects --json`): every dialect, and how to ask it for a token. */
const REGISTRY = JSON.parse(execFileSync(config.binary, ['dialects', '--json'], { encoding: 'utf8' }));

/** A JSON pointer's value. */
function at(value, pointer) {
  return pointer.split('/').slice(1).reduce((inner, token) => inner?.[token.replaceAll('~1', '/').replaceAll('~0', '~')], value);
}

/** The dialect's body template with the key id and key filled in. */
function bodyFor(token, secret) {
  const text = JSON.stringify(token.body);
  return JSON.parse(text.replaceAll('"{key_id}"', JSON.stringify(config.keyId)).replaceAll('"{key}"', JSON.stringify(secret)));
}

/** One test case per way in: the key header's security scheme, and HTTP Basic where accepted. */
const DIALECTS = REGISTRY.filter((entry) => entry.token).flatMap((entry) => {
  const { token } = entry;
  const base = {
    name: entry.title, doc: entry.document, slug: entry.name, path: token.documented_path, request: token.path,
    body: (secret) => bodyFor(token, secret),
    token: (body) => at(body, token.token_pointer),
    lifetime: entry.lifetime.default,
  };
  const cases = [{ ...base, authorize: token.key_header ? { header: token.key_header, fill: apiKey } : undefined }];
  if (token.basic) cases.push({ ...base, variant: 'basic', authorize: { basic: true, fill: basic } });
  return cases;
});

async function apiKey(container, secret) {
  await container.locator('input[type=text]').fill(secret);
}

async function basic(container, secret) {
  await container.locator('input[type=text]').fill(config.keyId);
  await container.locator('input[type=password]').fill(secret);
}

let browser;
let page;
let base;
let network;
const pageErrors = [];
const documents = new Map();

/** On failure, a screenshot of the whole page (FAILED-*.png) before the error is reported. */
function failureShot(name, fn) {
  return async () => {
    try {
      await fn();
    } catch (error) {
      await page?.screenshot({ path: screenshotPath(`FAILED-${name}`), fullPage: true }).catch(() => {});
      throw error;
    }
  };
}

before(async () => {
  // keymint listens on 127.0.0.1; the UI is opened under a name that is not loopback.
  base = config.url.replace('127.0.0.1', PUBLIC_HOST);
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  network = await guardNetwork(context, page);
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (error) => pageErrors.push(error));
  await page.goto(`${base}/swagger-ui/`);
  await page.locator('.swagger-ui .information-container .title').waitFor();
});

after(async () => {
  await browser?.close();
});

/** The document the top bar's selector names, once Swagger UI has rendered it. */
async function openDocument(dialect) {
  if (!documents.has(dialect.doc)) {
    const response = await fetch(`${config.url}${dialect.doc}`);
    documents.set(dialect.doc, await response.json());
  }
  await page.locator('.topbar select#select').selectOption({ label: dialect.name });
  const title = documents.get(dialect.doc).info.title;
  await page.locator('.information-container .title', { hasText: title }).waitFor();
  if (!dialect.path) return null; // a document with no token endpoint: rendered is enough
  const operation = page.locator('.opblock.opblock-post').filter({
    has: page.locator(`.opblock-summary-path[data-path="${dialect.path}"]`),
  });
  await operation.waitFor();
  if (!(await operation.getAttribute('class')).includes('is-open')) {
    await operation.locator('.opblock-summary-control').click();
  }
  await operation.locator('button.execute').waitFor(); // "Try it out" is on by configuration
  return operation;
}

/** The name of the document's security scheme for a way in: the API key header, or HTTP Basic. */
function schemeName(document, { header, basic: isBasic }) {
  const schemes = Object.entries(document.components?.securitySchemes ?? {});
  const found = schemes.find(([, s]) => (isBasic
    ? s.type === 'http' && s.scheme?.toLowerCase() === 'basic'
    : s.type === 'apiKey' && s.in === 'header' && s.name.toLowerCase() === header.toLowerCase()));
  assert.ok(found, `no security scheme for ${header ?? 'HTTP Basic'}`);
  return found[0];
}

/** "Authorize": the dialog, the scheme's form, filled and applied, then closed. */
async function authorize(dialect, secret) {
  const scheme = schemeName(documents.get(dialect.doc), dialect.authorize);
  const { fill } = dialect.authorize;
  await page.locator('.auth-wrapper button.authorize').click();
  const modal = page.locator('.modal-ux');
  await modal.waitFor();
  const container = modal.locator('.auth-container').filter({
    has: page.locator('h4 code', { hasText: new RegExp(`^${scheme}$`) }),
  });
  const logout = container.getByRole('button', { name: 'Remove authorization' });
  if (await logout.count()) await logout.click();
  await fill(container, secret);
  await container.getByRole('button', { name: 'Apply credentials' }).click();
  await container.locator('h6', { hasText: 'Authorized' }).waitFor();
  await modal.locator('button.btn-done').first().click();
  await modal.waitFor({ state: 'detached' });
}

async function logoutAll() {
  await page.locator('.auth-wrapper button.authorize').click();
  const modal = page.locator('.modal-ux');
  await modal.waitFor();
  const logouts = modal.getByRole('button', { name: 'Remove authorization' });
  while (await logouts.count()) await logouts.first().click();
  await modal.locator('button.btn-done').first().click();
  await modal.waitFor({ state: 'detached' });
}

/** "Execute", then what Swagger UI renders under "Server response". */
async function execute(operation, dialect) {
  const clear = operation.locator('button.btn-clear');
  if (await clear.count()) {
    await clear.click();
    await operation.locator('.live-responses-table').waitFor({ state: 'detached' });
  }
  const requestPath = dialect.request;
  const promptsBefore = network.authPrompts.length;
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === requestPath),
    operation.locator('button.execute').click(),
  ]);
  const row = operation.locator('.live-responses-table tbody tr.response');
  await row.locator('.highlight-code pre').waitFor();
  const status = Number((await row.locator('.response-col_status').textContent()).trim());
  const text = await row.locator('.highlight-code pre').textContent();
  let body;
  try { body = JSON.parse(text); } catch { assert.fail(`rendered body is not JSON: ${text}`); }
  assert.equal(status, response.status(), 'rendered status is the status on the wire');
  return { status, body, prompts: network.authPrompts.slice(promptsBefore) };
}

/** A screenshot of the operation from its summary down to the rendered server response. */
async function shootResponse(operation, name) {
  const clip = await operation.evaluate((element) => {
    const box = element.getBoundingClientRect();
    const live = element.querySelector('.live-responses-table') ?? element;
    const top = box.top + window.scrollY;
    const bottom = live.getBoundingClientRect().bottom + window.scrollY;
    return { x: box.left + window.scrollX, y: top, width: box.width, height: bottom - top + 12 };
  });
  await page.screenshot({ path: screenshotPath(name), fullPage: true, clip });
}

async function setBody(operation, body) {
  const textarea = operation.locator('textarea.body-param__text');
  await textarea.fill(JSON.stringify(body, null, 2));
}

describe('Swagger UI', { timeout: 90_000 }, () => {
  it('lists every document of the registry', async () => {
    const options = await page.locator('.topbar select#select option').allTextContents();
    assert.deepEqual(options, REGISTRY.map((entry) => entry.title));
    await page.screenshot({ path: screenshotPath('00-swagger-ui'), fullPage: true });
  });

  DIALECTS.forEach((dialect, i) => {
    const label = `${dialect.name}${dialect.variant ? ` (${dialect.variant})` : ''}`;
    const shot = `${String(i + 1).padStart(2, '0')}-${dialect.slug}${dialect.variant ? `-${dialect.variant}` : ''}`;

    it(`${label}: Try it out with the real key renders a working token`, failureShot(`${shot}-token`, async () => {
      const operation = await openDocument(dialect);
      if (dialect.authorize) await authorize(dialect, config.key);
      await setBody(operation, dialect.body(config.key));
      const { status, body, prompts } = await execute(operation, dialect);
      assert.equal(status, 200, JSON.stringify(body));
      assert.deepEqual(prompts, [], 'the browser asked for a password');
      const document = documents.get(dialect.doc);
      const declared = document.paths[dialect.path].post.responses['200'].content['application/json'].schema;
      assert.deepEqual(schemaProblems(document, declared, body), []);

      const token = dialect.token(body);
      const claims = jwtClaims(token);
      assert.equal(claims.sub, config.account);
      assert.equal(claims.key_id, config.keyId);
      assert.equal(claims.exp - claims.iat, dialect.lifetime);
      const introspection = await introspect(config.url, token);
      assert.equal(introspection.active, true, 'keymint accepts the token it rendered');

      await shootResponse(operation, `${shot}-token`);
    }));

    it(`${label}: a bad key renders the documented error`, failureShot(`${shot}-bad-key`, async () => {
      const operation = await openDocument(dialect);
      if (dialect.authorize) await authorize(dialect, badKey());
      await setBody(operation, dialect.body(badKey()));
      const { status, body, prompts } = await execute(operation, dialect);
      assert.deepEqual(prompts, [], 'the browser asked for a password');
      assert.equal(status, 401, JSON.stringify(body));
      // Swagger UI highlights the documented response the live one matches.
      const documented = operation.locator('.responses-table:not(.live-responses-table) tr.response.response_current');
      assert.equal(await documented.getAttribute('data-code'), '401');
      const document = documents.get(dialect.doc);
      const declared = document.paths[dialect.path].post.responses['401'].content['application/json'].schema;
      assert.deepEqual(schemaProblems(document, declared, body), []);

      await shootResponse(operation, `${shot}-bad-key`);
      if (dialect.authorize) await logoutAll();
    }));

  });

  REGISTRY.filter((entry) => !entry.token).forEach((entry) => {
    it(`renders ${entry.title}`, async () => {
      await openDocument({ name: entry.title, doc: entry.document });
      await page.locator('.opblock-summary-path').first().waitFor();
    });
  });

  it('fetched nothing from off the machine, and threw no script errors', () => {
    assert.deepEqual(network.offMachine, []);
    assert.deepEqual(pageErrors.map(String), []);
  });
});
