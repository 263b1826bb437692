// The console in chromium, through a key's whole life: sign in with an admin key, create an
// account and copy its key from the page, get a token with it, rotate the slot with a grace
// period (the old key works until the grace is over, then is refused), revoke, and find each
// step in the audit trail. Then the keyboard alone, the labels screen readers read, sign-out,
// and a refused admin key sending the user back to sign in. Nothing may be fetched from
// anywhere but keymint, and the page's content security policy must never have to refuse
// anything. Steps whose admin operation this keymint does not have yet are skipped with a note.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { config, guardNetwork, launchChromium, screenshotPath } from './lib.mjs';

const ACCOUNT = 'console-acme';
const SCOPE = 'calls:read';
/** The rotation's grace period, in seconds: short, so the test sees its end. */
const GRACE = 2;

/** keymint's command line on the test database. */
function keymint(...args) {
  return execFileSync(config.binary, args, { encoding: 'utf8', env: { ...process.env, KEYMINT_DATABASE_URL: config.database } });
}

const ADMIN = JSON.parse(keymint('admin-keys', 'create', 'console-test', '--json'));
/** The operations the served admin document has: a screen is driven once its operation is. */
const OPERATIONS = new Set(Object.values((await (await fetch(`${config.url}/v3/api-docs/admin`)).json()).paths)
  .flatMap((item) => Object.values(item).map((operation) => operation.operationId)));

/** Skips a step until its operation is on main, saying so. */
function needs(operation) {
  if (OPERATIONS.has(operation)) return {};
  const note = `skipped: the admin API has no ${operation} yet`;
  console.log(`# ${note}`);
  return { skip: note };
}

/** A Volubile token for `key`: the HTTP status, as a client of the account would see it. */
async function tokenStatus(key) {
  const response = await fetch(`${config.url}/v1/auth/token`, {
    method: 'POST',
    headers: { 'X-Api-Key': key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ scope: [SCOPE] }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** Polls `probe` until it holds (keymint writes usage and audit in the background). */
async function until(probe, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

let browser;
/** The tab signed in with the admin key, and what it did on the network and in its console. */
let page;
let network;
const problems = [];

/** A page of its own context (its own sessionStorage), watched for off-machine requests,
 * script errors and refusals by the content security policy. */
async function openConsole() {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  const opened = await context.newPage();
  const guarded = await guardNetwork(context, opened);
  opened.setDefaultTimeout(15_000);
  opened.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  opened.on('console', (message) => {
    if (/Content Security Policy|Trusted Type/i.test(message.text())) problems.push(`refused: ${message.text()}`);
  });
  return { page: opened, network: guarded };
}

function failureShot(name, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (error) {
      await page?.screenshot({ path: screenshotPath(`FAILED-console-${name}`), fullPage: true }).catch(() => {});
      throw error;
    }
  };
}

const heading = (name) => page.getByRole('heading', { level: 1, name });
const slot = (name) => page.getByRole('region', { name: `${name[0].toUpperCase()}${name.slice(1)} key` });
const dialog = () => page.getByRole('dialog');

/** The secret a dialog shows for `slot`, copied with its button and read from the clipboard. */
async function copySecret(slotName) {
  const shown = await dialog().getByLabel(`${slotName[0].toUpperCase()}${slotName.slice(1)} key's secret`, { exact: true }).inputValue();
  await dialog().getByRole('button', { name: `Copy the ${slotName} key's secret` }).click();
  await dialog().getByText(`Copied the ${slotName} key's secret.`).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, shown, 'the clipboard holds the secret shown');
  assert.match(copied, /^km_/);
  return copied;
}

/** Takes a screenshot, once the page shows no value the console failed to render. */
async function shot(name, options = {}) {
  const text = await page.locator('body').innerText();
  assert.doesNotMatch(text, /undefined|\[object |NaN/, `${name}: ${text}`);
  await page.screenshot({ path: screenshotPath(`console-${name}`), ...options });
}

/** The facts a slot shows of key `id`: its description list as label → value. */
async function facts(id) {
  return page.locator(`dl[aria-label="Key ${id}"]`).evaluate((dl) => Object.fromEntries([...dl.querySelectorAll('dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
}

before(async () => {
  browser = await launchChromium();
  ({ page, network } = await openConsole());
});

after(async () => {
  await browser?.close();
});

describe('the console, through a key\'s whole life', () => {
  let primary; // { id, secret } of the account's primary key
  let secondary; // its secondary key's secret
  let rotated;

  it('is at /console, served from keymint, and asks for an admin key', failureShot('sign-in', async () => {
    await page.goto(`${config.url}/console`);
    assert.equal(new URL(page.url()).pathname, '/console/');
    await heading('Sign in').waitFor();
    assert.ok(await page.getByRole('navigation', { name: 'Console' }).isHidden(), 'no navigation before signing in');
    await shot('sign-in');
  }));

  it('refuses a wrong admin key and says so', failureShot('wrong-key', async () => {
    await page.getByLabel('Admin key').fill(`${ADMIN.secret.slice(0, -1)}${ADMIN.secret.at(-1) === 'A' ? 'B' : 'A'}`);
    await page.getByLabel('Admin key').press('Enter');
    await page.getByRole('alert').filter({ hasText: 'refused the admin key' }).waitFor();
    await heading('Sign in').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused key is not kept');
  }));

  it('signs in with an admin key kept for this tab only', failureShot('signed-in', async () => {
    await page.getByLabel('Admin key').fill(ADMIN.secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading('Accounts').waitFor();
    const storage = await page.evaluate(() => ({
      session: Object.values(sessionStorage), local: localStorage.length, cookies: document.cookie,
    }));
    assert.deepEqual(storage, { session: [ADMIN.secret], local: 0, cookies: '' });
    // run.sh's account is listed.
    await page.getByRole('link', { name: config.account, exact: true }).waitFor();
  }));

  it('creates an account, shows its two secrets once, and copies the primary one', failureShot('create', async () => {
    await page.getByRole('button', { name: 'Create account' }).click();
    await dialog().getByLabel('Name').fill(ACCOUNT);
    await dialog().getByRole('checkbox', { name: SCOPE }).check();
    await dialog().getByRole('button', { name: 'Create account' }).click();
    await dialog().getByRole('heading', { name: `Account ${ACCOUNT} created` }).waitFor();
    await dialog().getByLabel('Secondary key\'s secret', { exact: true }).waitFor();
    const secret = await copySecret('primary');
    secondary = await dialog().getByLabel('Secondary key\'s secret', { exact: true }).inputValue();
    await shot('account-created');
    await dialog().getByRole('button', { name: /^Done/ }).click();
    await heading(`Account ${ACCOUNT}`).waitFor();
    const id = (await slot('primary').locator('code').first().textContent()).trim();
    primary = { id, secret };
    assert.ok(secret.includes(id), 'the key copied is the primary slot\'s');
  }));

  it('lists the account in a search by prefix', failureShot('search', async () => {
    await page.getByRole('link', { name: 'Accounts', exact: true }).first().click();
    await heading('Accounts').waitFor();
    await page.getByLabel('Name starts with').fill('console-');
    await page.getByLabel('Name starts with').press('Enter');
    // run.sh's account leaves the list; the new one stays.
    await page.getByRole('link', { name: config.account, exact: true }).waitFor({ state: 'detached' });
    assert.ok(page.url().endsWith('#/accounts?prefix=console-'), page.url());
    await page.getByRole('link', { name: ACCOUNT, exact: true }).waitFor();
    await shot('accounts');
    await page.getByRole('link', { name: ACCOUNT, exact: true }).click();
    await heading(`Account ${ACCOUNT}`).waitFor();
  }));

  it('gets a token with the copied key, and the page shows when the key was last used', failureShot('token', async () => {
    assert.equal(await tokenStatus(primary.secret), 200);
    // Last-used times are written every second.
    await until(async () => {
      await page.reload();
      await heading(`Account ${ACCOUNT}`).waitFor();
      return (await facts(primary.id))['Last used'] !== 'never';
    }, 'the last-used time');
    await shot('account', { fullPage: true });
  }));

  it('rotates the primary slot with a grace period: the old key works until it ends, then is refused', needs('rotateKey'), failureShot('rotate', async () => {
    await slot('primary').getByRole('button', { name: 'Rotate primary key…' }).click();
    await dialog().getByLabel('Grace period (seconds)').fill(String(GRACE));
    await dialog().getByLabel('Name (optional)').fill('rotated-by-console');
    await dialog().getByRole('button', { name: 'Rotate' }).click();
    const secret = await copySecret('primary');
    const rotatedAt = Date.now();
    assert.equal(await tokenStatus(primary.secret), 200, 'the old key works in its grace period');
    await shot('rotated');
    const title = await dialog().getByRole('heading').textContent();
    const id = /^New primary key (\w+)$/.exec(title)?.[1];
    assert.ok(id && id !== primary.id && secret.includes(id), title);
    await dialog().getByRole('button', { name: 'Done' }).click();
    await dialog().waitFor({ state: 'detached' });
    // The slot shows the new key first, and the old one retiring until its grace is over.
    await page.locator(`dl[aria-label="Key ${id}"]`).waitFor();
    assert.equal(await slot('primary').locator('code').first().textContent(), id);
    if (OPERATIONS.has('listKeys')) assert.match((await facts(primary.id)).State, /retiring/);
    await shot('account-rotated', { fullPage: true });
    rotated = { id, secret };
    assert.equal(await tokenStatus(rotated.secret), 200, 'the new key works');
    await until(async () => (await tokenStatus(primary.secret)) === 401, 'the old key to be refused', (GRACE + 8) * 1000);
    assert.ok(Date.now() - rotatedAt >= GRACE * 1000 - 500, 'not refused before its grace was over');
    assert.equal(await tokenStatus(rotated.secret), 200, 'the new key still works');
    await page.reload();
    await heading(`Account ${ACCOUNT}`).waitFor();
    assert.equal((await facts(rotated.id)).Name, 'rotated-by-console');
  }));

  it('disables the account and enables it again from its settings', needs('updateAccount'), failureShot('settings', async () => {
    const settings = page.getByRole('region', { name: 'Settings' });
    await settings.getByRole('button', { name: 'Edit settings…' }).click();
    await dialog().getByLabel('Rate limit (optional)').fill('50/60s');
    await dialog().getByRole('checkbox', { name: /^Disabled/ }).check();
    await dialog().getByRole('button', { name: 'Save' }).click();
    await dialog().waitFor({ state: 'detached' });
    await settings.getByText('disabled: its keys are refused').waitFor();
    await settings.getByText('50/60s', { exact: false }).waitFor();
    await until(async () => (await tokenStatus(secondary)) === 401, 'the disabled account\'s key to be refused', 3000);
    await shot('account-disabled', { fullPage: true });

    await settings.getByRole('button', { name: 'Edit settings…' }).click();
    await dialog().getByRole('checkbox', { name: /^Disabled/ }).uncheck();
    await dialog().getByLabel('Rate limit (optional)').fill('');
    await dialog().getByLabel('Rate limit (optional)').press('Enter');
    await dialog().waitFor({ state: 'detached' });
    await settings.getByText('enabled', { exact: true }).waitFor();
    await until(async () => (await tokenStatus(secondary)) === 200, 'the key to work again', 3000);
  }));

  it('revokes the primary key: it gets no token from then on', failureShot('revoke', async () => {
    const key = rotated ?? primary;
    await slot('primary').getByRole('button', { name: `Revoke key ${key.id}…` }).click();
    await dialog().getByRole('button', { name: 'Revoke' }).click();
    await dialog().waitFor({ state: 'detached' });
    await slot('primary').getByText('No key in this slot.').waitFor();
    assert.equal(await tokenStatus(key.secret), 401);
    await shot('revoked', { fullPage: true });
  }));

  it('finds each step in the account\'s audit trail', needs('listAuditEvents'), failureShot('audit', async () => {
    await page.getByRole('link', { name: 'Its audit trail' }).click();
    await heading('Audit trail').waitFor();
    const expected = ['account_created', 'issued', 'key_revoked', ...(rotated ? [/rotat/] : [])];
    const outcomes = await until(async () => {
      await page.getByRole('button', { name: 'Filter' }).click();
      await heading('Audit trail').waitFor();
      const cells = await page.locator('tbody tr td:nth-child(2)').allTextContents();
      return expected.every((outcome) => cells.some((cell) => cell.match(outcome))) && cells;
    }, 'every step in the audit trail');
    assert.ok(outcomes.length >= expected.length);
    const accounts = await page.locator('tbody tr td:nth-child(3)').allTextContents();
    assert.ok(accounts.every((name) => name === ACCOUNT), `only ${ACCOUNT}'s events: ${accounts}`);
    await shot('audit', { fullPage: true });
    await page.getByLabel('Outcome').selectOption('key_revoked');
    await page.getByRole('button', { name: 'Filter' }).click();
    await until(async () => {
      const shown = await page.locator('tbody tr td:nth-child(2)').allTextContents();
      return shown.length > 0 && shown.every((outcome) => outcome === 'key_revoked');
    }, 'only key_revoked events');
  }));

  it('deletes the account: its other key is refused, and it is listed no more', needs('deleteAccount'), failureShot('delete', async () => {
    await page.goto(`${config.url}/console/#/accounts/${ACCOUNT}`);
    await heading(`Account ${ACCOUNT}`).waitFor();
    await page.getByRole('button', { name: 'Delete account…' }).click();
    await dialog().getByRole('button', { name: 'Delete account' }).click();
    await heading('Accounts').waitFor();
    await page.getByRole('link', { name: config.account, exact: true }).waitFor();
    assert.equal(await page.getByRole('link', { name: ACCOUNT, exact: true }).count(), 0);
    await until(async () => (await tokenStatus(secondary)) === 401, 'the deleted account\'s key to be refused', 3000);
  }));

  it('fetched nothing from elsewhere, and its policy refused nothing', () => {
    assert.deepEqual(network.offMachine, []);
    assert.deepEqual(problems, []);
  });
});

describe('the console from the keyboard alone', () => {
  let keyboard;

  before(async () => {
    ({ page: keyboard } = await openConsole());
  });

  const focused = () => keyboard.evaluate(() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    return {
      tag: element.tagName.toLowerCase(),
      name: element.getAttribute('aria-label') ?? element.labels?.[0]?.textContent ?? element.textContent.trim(),
      inDialog: Boolean(element.closest('dialog')),
      outline: style.outlineStyle !== 'none' && style.outlineWidth !== '0px',
    };
  });

  it('signs in, opens a dialog, moves only inside it, and closes it with Escape', failureShot('keyboard', async () => {
    await keyboard.goto(`${config.url}/console/`);
    await keyboard.getByRole('heading', { name: 'Sign in' }).waitFor();
    await keyboard.keyboard.press('Tab');
    assert.equal((await focused()).name, 'Admin key');
    await keyboard.keyboard.type(ADMIN.secret);
    await keyboard.keyboard.press('Enter');
    await keyboard.getByRole('heading', { level: 1, name: 'Accounts' }).waitFor();

    // A form submits with Enter: the search. Before any dialog: in CI, focus came back to the
    // button that had opened one a moment after it closed, and the search was typed into it.
    await keyboard.getByLabel('Name starts with').focus();
    await keyboard.keyboard.type(config.account);
    await keyboard.keyboard.press('Enter');
    await keyboard.waitForURL(`**/console/#/accounts?prefix=${config.account}`);
    // The results, rendered, take focus at their heading.
    await until(async () => (await focused()).name === 'Accounts', 'the results to take focus', 5000);
    await keyboard.getByRole('link', { name: config.account, exact: true }).waitFor();

    // From the page's heading, in reading order, each with a visible focus ring.
    for (const expected of ['Name starts with', 'Search', 'Create account']) {
      await keyboard.keyboard.press('Tab');
      const now = await focused();
      assert.equal(now.name, expected);
      assert.ok(now.outline, `${expected} shows where focus is`);
    }
    await keyboard.keyboard.press('Enter');
    await keyboard.getByRole('dialog').waitFor();
    assert.equal((await focused()).name, 'Name', 'the dialog\'s first field takes focus');
    for (let i = 0; i < 15; i += 1) {
      await keyboard.keyboard.press('Tab');
      assert.ok((await focused()).inDialog, 'focus stays in the dialog');
    }
    await keyboard.keyboard.press('Shift+Tab');
    assert.ok((await focused()).inDialog);
    await keyboard.screenshot({ path: screenshotPath('console-keyboard-dialog') });
    await keyboard.keyboard.press('Escape');
    await keyboard.getByRole('dialog').waitFor({ state: 'detached' });
    assert.equal((await focused()).name, 'Create account', 'focus returns to the button that opened it');
  }));

  it('labels every control and marks the page\'s landmarks', failureShot('labels', async () => {
    const cdp = await keyboard.context().newCDPSession(keyboard);
    const unnamed = async () => {
      const { nodes } = await cdp.send('Accessibility.getFullAXTree');
      const roles = nodes.filter((node) => !node.ignored).map((node) => ({ role: node.role?.value, name: node.name?.value ?? '' }));
      const controls = ['textbox', 'searchbox', 'button', 'checkbox', 'combobox', 'link', 'spinbutton'];
      return {
        unnamed: roles.filter((node) => controls.includes(node.role) && !node.name.trim()),
        landmarks: ['banner', 'navigation', 'main'].filter((landmark) => !roles.some((node) => node.role === landmark)),
      };
    };
    const pages = [['accounts', '#/accounts'], ['account', `#/accounts/${config.account}`], ['audit', '#/audit']];
    for (const [name, hash] of pages) {
      await keyboard.goto(`${config.url}/console/${hash}`);
      await keyboard.getByRole('heading', { level: 1 }).waitFor();
      assert.deepEqual(await unnamed(), { unnamed: [], landmarks: [] }, name);
    }
    await keyboard.goto(`${config.url}/console/#/accounts`);
    await keyboard.getByRole('button', { name: 'Create account' }).click();
    assert.deepEqual((await unnamed()).unnamed, [], 'the create dialog');
    await keyboard.keyboard.press('Escape');
  }));

  it('signs out: the admin key is gone from the tab', failureShot('sign-out', async () => {
    await keyboard.getByRole('button', { name: 'Sign out' }).click();
    await keyboard.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal(await keyboard.evaluate(() => sessionStorage.length), 0);
    await keyboard.goto(`${config.url}/console/#/accounts`);
    await keyboard.getByRole('heading', { name: 'Sign in' }).waitFor();
  }));
});

describe('a refused admin key', () => {
  it('sends the user back to sign in, and forgets the key', failureShot('revoked-admin-key', async () => {
    await page.goto(`${config.url}/console/#/accounts`);
    await heading('Accounts').waitFor();
    keymint('admin-keys', 'revoke', ADMIN.id);
    await page.getByRole('link', { name: config.account, exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'refused the admin key' }).waitFor();
    await heading('Sign in').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.deepEqual(problems, []);
  }));
});
