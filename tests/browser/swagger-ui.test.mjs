// Swagger UI in chromium: every dialect's document, "Authorize" and "Try it out" with the real key
// (the token is read from the rendered response and checked with keymint), then with a bad key
// (the rendered error must be the one the document declares). The OAuth 2.0 document: "Authorize"
// obtains a token by the client credentials grant, and "Try it out" runs with it (where an
// operation lists the oauth2 scheme) and with HTTP Basic. Nothing may be fetched from
// anywhere but keymint: every other request is blocked and fails the test. Nor may the browser
// ask for a password: a 401 must reach Swagger UI, which renders it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import {
  PUBLIC_HOST, config, guardNetwork, introspect, jwtClaims, jwtHeader, launchChromium, schemaProblems,
  screenshotPath,
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

/** The standard dialect, which the registry lists without a token template: its document is
 * exercised through its oauth2 and clientSecretBasic security schemes. */
const OAUTH = REGISTRY.find((entry) => entry.name === 'oauth');
const OAUTH_DOCUMENT = OAUTH && await (await fetch(`${config.url}${OAUTH.document}`)).json();
const OAUTH_SCHEME = 'oauth2';
const OAUTH_SCOPES = ['calls:read', 'agents:read'];
/** The operations Swagger UI sends the token the oauth2 scheme obtained to, as `Bearer`. */
const BEARER_OPERATIONS = Object.entries(OAUTH_DOCUMENT?.paths ?? {}).flatMap(([path, item]) => Object.entries(item)
  .filter(([, operation]) => (operation.security ?? OAUTH_DOCUMENT.security ?? []).some((r) => OAUTH_SCHEME in r))
  .map(([method]) => `${method.toUpperCase()} ${path}`));
const INTROSPECT_WITH_BEARER = BEARER_OPERATIONS.includes('POST /oauth2/introspect');

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
  return openOperation(dialect.path);
}

/** A POST operation of the rendered document, expanded, ready to execute. */
async function openOperation(path) {
  const operation = page.locator('.opblock.opblock-post').filter({
    has: page.locator(`.opblock-summary-path[data-path="${path}"]`),
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
  return { status, body, prompts: network.authPrompts.slice(promptsBefore), response };
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

/** A form-encoded body: the fields named get their values; every other field, which Swagger UI
 * fills with the schema's examples, is emptied (array items removed) and its "Send empty value",
 * which Swagger UI ticks for every optional field, unticked, so it is not sent. */
async function setForm(operation, values) {
  const rows = operation.locator('.opblock-section-request-body tr[data-property-name]');
  // Swagger UI renders a form's rows over several frames (seen under load in CI): wait for the
  // fields named, then until no more rows appear.
  for (const name of Object.keys(values)) {
    await rows.and(operation.locator(`tr[data-property-name="${name}"]`)).waitFor();
  }
  for (let count = -1; count !== await rows.count();) {
    count = await rows.count();
    await page.waitForTimeout(100);
  }
  const seen = [];
  for (const row of await rows.all()) {
    const name = await row.getAttribute('data-property-name');
    seen.push(name);
    const value = values[name];
    const select = row.locator('select');
    if (await select.count()) {
      if (value !== undefined) await select.selectOption(value);
      continue;
    }
    const remove = row.locator('button.json-schema-form-item-remove');
    while (await remove.count()) await remove.first().click();
    const input = row.locator('input[type=text], input[type=password]');
    if (await input.count()) await input.fill(value ?? '');
    else assert.equal(value, undefined, `no input for ${name}`);
    const toggle = row.locator('.parameter__empty_value_toggle');
    if (value === undefined && await toggle.count()) {
      // Enabled (and shown ticked) once Swagger UI has taken the emptied value: inputs are debounced.
      const sendEmpty = toggle.locator('input[type=checkbox]:enabled');
      await sendEmpty.waitFor();
      await sendEmpty.uncheck();
    }
  }
  for (const name of Object.keys(values)) assert.ok(seen.includes(name), `the form has no field ${name}`);
}

/** The fields of a form-encoded request, as sent. */
function formOf(request) {
  return Object.fromEntries(new URLSearchParams(request.postData() ?? ''));
}

/** The Authorize dialog's section for the oauth2 scheme (Swagger UI names it without <code>). */
function oauthSection(modal) {
  return modal.locator('.auth-container').filter({
    has: page.locator('h4', { hasText: `${OAUTH_SCHEME} (OAuth2, clientCredentials)` }),
  });
}

/** A screenshot of a section of the Authorize dialog, whole: the dialog, which scrolls within the
 * window, is let grow to its content's height in a window tall enough to show it, for the shot. */
async function shootSection(section, name) {
  const viewport = page.viewportSize();
  const content = page.locator('.modal-ux .modal-ux-content');
  const grow = (element, grown) => { element.style.maxHeight = grown ? 'none' : ''; };
  await content.evaluate(grow, true);
  await page.setViewportSize({ width: viewport.width, height: 2000 });
  try {
    await section.screenshot({ path: screenshotPath(name) });
  } finally {
    await page.setViewportSize(viewport);
    await content.evaluate(grow, false);
  }
}

/** The schemes Swagger UI holds credentials or a token for. */
async function authorizedSchemes() {
  return page.evaluate(() => Object.keys(window.ui.authSelectors.authorized()?.toJS() ?? {}));
}

/** The OAuth dialect as the helpers above take it: its document, and HTTP Basic (clientSecretBasic). */
const oauthDialect = () => ({
  name: OAUTH.title, doc: OAUTH.document, request: '/oauth2/token',
  authorize: { basic: true, fill: basic },
});

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

  describe('OAuth 2.0 (client credentials)', () => {
    const shot = `${String(DIALECTS.length + 1).padStart(2, '0')}-oauth`;
    /** The access token Swagger UI obtained in "Authorize". */
    let obtained;
    /** Selecting a document (even the one shown) makes Swagger UI forget every authorization: the
     * tests after "Authorize" go on in the document as it left it, still holding the token. */
    async function stillAuthorized() {
      assert.ok(obtained, 'Authorize obtained no token');
      await page.locator('.information-container .title', { hasText: OAUTH_DOCUMENT.info.title }).waitFor();
      assert.ok((await authorizedSchemes()).includes(OAUTH_SCHEME), `Swagger UI no longer holds the ${OAUTH_SCHEME} token`);
    }

    it('the selector offers the OAuth 2.0 document', async () => {
      assert.ok(OAUTH, 'keymint dialects --json lists no oauth dialect');
      const options = await page.locator('.topbar select#select option')
        .evaluateAll((all) => all.map((option) => ({ label: option.textContent, value: option.value })));
      const entry = options.find((option) => option.label === OAUTH.title);
      assert.ok(entry, `no "${OAUTH.title}" in the selector: ${options.map((o) => o.label).join(', ')}`);
      assert.equal(new URL(entry.value, base).pathname, OAUTH.document);
      const flow = OAUTH_DOCUMENT.components.securitySchemes[OAUTH_SCHEME]?.flows?.clientCredentials;
      assert.ok(flow, `the document has no ${OAUTH_SCHEME} scheme with a clientCredentials flow`);
      assert.equal(flow.tokenUrl, '/oauth2/token');
      for (const scope of OAUTH_SCOPES) assert.ok(scope in flow.scopes, `${scope} is not among the flow's scopes`);
    });

    it('Authorize obtains a token by the client credentials grant', failureShot(`${shot}-authorize`, async () => {
      await openDocument(oauthDialect());
      await page.locator('.auth-wrapper button.authorize').click();
      const modal = page.locator('.modal-ux');
      await modal.waitFor();
      const section = oauthSection(modal);
      await section.locator('input[data-name=clientId]').fill(config.keyId);
      await section.locator('input[data-name=clientSecret]').fill(config.key);
      for (const scope of OAUTH_SCOPES) {
        await section.locator(`label[for="${scope}-clientCredentials-checkbox-${OAUTH_SCHEME}"]`).click();
        assert.ok(await section.locator(`input[data-value="${scope}"]`).isChecked(), `${scope} not ticked`);
      }
      await shootSection(section, `${shot}-authorize`);

      const promptsBefore = network.authPrompts.length;
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/oauth2/token'),
        section.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click(),
      ]);
      const body = await response.json();
      assert.equal(response.status(), 200, JSON.stringify(body));
      assert.deepEqual(network.authPrompts.slice(promptsBefore), [], 'the browser asked for a password');
      // Swagger UI's client_secret_basic: the key's id and the key as HTTP Basic; the grant in the form.
      const sent = response.request();
      const basicAuth = Buffer.from(`${config.keyId}:${config.key}`).toString('base64');
      assert.equal((await sent.allHeaders()).authorization, `Basic ${basicAuth}`);
      const form = formOf(sent);
      assert.equal(form.grant_type, 'client_credentials');
      assert.deepEqual(form.scope.split(' ').sort(), [...OAUTH_SCOPES].sort());

      const declared = OAUTH_DOCUMENT.paths['/oauth2/token'].post.responses['200'].content['application/json'].schema;
      assert.deepEqual(schemaProblems(OAUTH_DOCUMENT, declared, body), []);
      assert.equal(body.token_type, 'Bearer');
      assert.equal(jwtHeader(body.access_token).typ, 'at+jwt');
      const claims = jwtClaims(body.access_token);
      assert.equal(claims.sub, config.account);
      assert.equal(claims.client_id, config.keyId);
      assert.deepEqual(claims.scope.split(' ').sort(), [...OAUTH_SCOPES].sort());
      assert.equal(claims.exp - claims.iat, body.expires_in);
      assert.equal((await introspect(config.url, body.access_token)).active, true, 'keymint accepts the token');

      // Swagger UI holds the token, and says so.
      await section.locator('h6', { hasText: 'Authorized' }).waitFor();
      const logout = section.getByRole('button', { name: 'Remove authorization' });
      assert.equal((await logout.textContent()).trim(), 'Logout');
      const held = await page.evaluate((name) => window.ui.authSelectors.authorized().toJS()[name], OAUTH_SCHEME);
      assert.equal(held?.token?.access_token, body.access_token, 'Swagger UI keeps the token it was sent');
      obtained = body.access_token;
      await shootSection(section, `${shot}-authorized`);
      await modal.locator('button.btn-done').first().click();
      await modal.waitFor({ state: 'detached' });
    }));

    it('Try it out: introspection with the obtained token as Bearer', failureShot(`${shot}-introspect-bearer`, async () => {
      assert.ok(INTROSPECT_WITH_BEARER,
        `POST /oauth2/introspect must list ${OAUTH_SCHEME}, or Swagger UI never sends it the token (operations that do: ${BEARER_OPERATIONS.join(', ') || 'none'})`);
      await stillAuthorized();
      const operation = await openOperation('/oauth2/introspect');
      await setForm(operation, { token: obtained });
      const { status, body, prompts, response } = await execute(operation, { request: '/oauth2/introspect' });
      assert.equal((await response.request().allHeaders()).authorization, `Bearer ${obtained}`);
      assert.deepEqual(prompts, [], 'the browser asked for a password');
      assert.equal(status, 200, JSON.stringify(body));
      const declared = OAUTH_DOCUMENT.paths['/oauth2/introspect'].post.responses['200'].content['application/json'].schema;
      assert.deepEqual(schemaProblems(OAUTH_DOCUMENT, declared, body), []);
      assert.equal(body.active, true, JSON.stringify(body));
      assert.equal(body.sub, config.account);
      assert.equal(body.client_id, config.keyId);
      await shootResponse(operation, `${shot}-introspect-bearer`);
    }));

    it('Try it out: the token endpoint with clientSecretBasic', failureShot(`${shot}-token-basic`, async () => {
      await stillAuthorized();
      await authorize(oauthDialect(), config.key);
      const basicScheme = schemeName(OAUTH_DOCUMENT, { basic: true });
      assert.deepEqual((await authorizedSchemes()).sort(), [basicScheme, OAUTH_SCHEME].sort());
      const operation = await openOperation('/oauth2/token');
      await setForm(operation, { grant_type: 'client_credentials', scope: 'calls:read' });
      const { status, body, prompts, response } = await execute(operation, oauthDialect());
      // The operation lists clientSecretBasic, not oauth2: the obtained token stays out of it.
      const basicAuth = Buffer.from(`${config.keyId}:${config.key}`).toString('base64');
      assert.equal((await response.request().allHeaders()).authorization, `Basic ${basicAuth}`);
      assert.deepEqual(formOf(response.request()), { grant_type: 'client_credentials', scope: 'calls:read' });
      assert.deepEqual(prompts, [], 'the browser asked for a password');
      assert.equal(status, 200, JSON.stringify(body));
      const declared = OAUTH_DOCUMENT.paths['/oauth2/token'].post.responses['200'].content['application/json'].schema;
      assert.deepEqual(schemaProblems(OAUTH_DOCUMENT, declared, body), []);
      assert.equal(jwtHeader(body.access_token).typ, 'at+jwt');
      const claims = jwtClaims(body.access_token);
      assert.equal(claims.sub, config.account);
      assert.equal(claims.client_id, config.keyId);
      assert.equal(claims.scope, 'calls:read');
      assert.notEqual(body.access_token, obtained);
      assert.equal((await introspect(config.url, body.access_token)).active, true, 'keymint accepts the token');
      await shootResponse(operation, `${shot}-token-basic`);
      await logoutAll();
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
