// Accounts: a search by name prefix, cursor paging, and creating an account (its two secrets
// shown once).
import { accountPath, call, capabilities } from './api.js';
import { go } from './app.js';
import { busy, dialog, field, h, secretField, time } from './ui.js';

const PAGE_SIZE = 20;

export async function accountsPage(params) {
  const can = await capabilities();
  const prefix = params.get('prefix') ?? '';
  const cursor = params.get('cursor') ?? '';
  const { data } = await call('GET', 'accounts', { query: { prefix, cursor, limit: PAGE_SIZE } });

  const search = h('input', { name: 'prefix', type: 'search', value: prefix, autocomplete: 'off', maxlength: '64' });
  const searchForm = h('form', {
    role: 'search',
    class: 'inline',
    onsubmit: (event) => {
      event.preventDefault();
      go('/accounts', { prefix: search.value.trim() });
    },
  }, field('Name starts with', search), h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Search')));

  const create = can.has('createAccount')
    && h('button', { type: 'button', class: 'primary', onclick: () => createAccountDialog(can) }, 'Create account');

  const shown = data.accounts.length;
  const what = prefix ? `whose names start with “${prefix}”` : '';
  // An admin API without per-account settings has no state to show.
  const states = data.accounts.some((account) => account.settings);
  const rows = data.accounts.map((account) => h('tr', {},
    h('td', {}, h('a', { href: `#/${accountPath(account.name)}` }, account.name)),
    h('td', {}, time(account.created_at)),
    states && h('td', {}, account.settings?.disabled ? h('span', { class: 'state-disabled' }, 'disabled') : 'enabled')));
  const table = shown === 0
    ? h('p', {}, prefix ? `No account's name starts with “${prefix}”.` : 'No accounts yet.')
    : h('table', {},
      h('caption', { class: 'visually-hidden' }, `Accounts ${what}`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Created'), states && h('th', { scope: 'col' }, 'State'))),
      h('tbody', {}, rows));
  const pages = h('nav', { 'aria-label': 'Pages of accounts', class: 'pages' },
    cursor && h('a', { href: `#/accounts${prefix ? `?prefix=${encodeURIComponent(prefix)}` : ''}` }, 'First page'),
    data.next_cursor && h('a', {
      href: `#/accounts?${new URLSearchParams({ ...(prefix && { prefix }), cursor: data.next_cursor })}`,
    }, 'Next page'));

  return {
    title: 'Accounts',
    announce: `${shown} account${shown === 1 ? '' : 's'} shown${data.next_cursor ? ', more on the next page' : ''}.`,
    nodes: [
      h('h1', { tabindex: '-1' }, 'Accounts'),
      h('div', { class: 'toolbar' }, searchForm, create),
      table,
      pages,
    ],
  };
}

/** The new account's form; then its two secrets, once, each with a copy button. */
function createAccountDialog(can) {
  dialog('Create an account', (close, box) => {
    const name = h('input', {
      name: 'name', required: true, maxlength: '64', autocomplete: 'off', spellcheck: 'false',
      pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}',
    });
    const scopes = can.scopes();
    const boxes = scopes.map((scope) => h('label', {}, h('input', { type: 'checkbox', name: 'scopes', value: scope }), scope));
    const errors = h('div', { 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Create account');
    const form = h('form', {
      onsubmit: async (event) => {
        event.preventDefault();
        const chosen = boxes.map((label) => label.firstChild).filter((input) => input.checked).map((input) => input.value);
        const body = { name: name.value.trim(), ...(chosen.length > 0 && { scopes: chosen }) };
        const created = await busy(submit, errors, () => call('POST', 'accounts', { body }));
        if (created) showCreated(box, created.data, close);
      },
    },
    field('Name', name, 'Letters, digits, dot, dash, underscore; up to 64. Its tokens carry it as sub.'),
    scopes.length > 0 && h('fieldset', {}, h('legend', {}, 'Allowed scopes (none ticked: every scope)'), boxes),
    errors,
    h('div', { class: 'actions' }, submit, h('button', { type: 'button', onclick: close }, 'Cancel')));
    return form;
  });
}

function showCreated(box, account, close) {
  const title = box.querySelector('h2');
  title.textContent = `Account ${account.name} created`;
  // However the dialog closes, the account's page follows.
  box.addEventListener('close', () => go(`/${accountPath(account.name)}`));
  const done = h('button', { type: 'button', class: 'primary', onclick: close }, 'Done: open the account');
  box.replaceChildren(...[title,
    h('p', { role: 'alert' }, 'Copy both keys now: keymint keeps only their hashes and never shows them again.'),
    account.keys.map((key) => secretField(key.slot, key.secret)),
    h('div', { class: 'actions' }, done)].flat());
  box.querySelector('button').focus();
}
