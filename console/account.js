// An account: its settings and its two key slots, each key's public facts, rotation with a
// grace period (the new secret shown once), revocation.
import { accountPath, call, capabilities } from './api.js';
import { go, render } from './app.js';
import { announce, busy, dialog, field, h, secretField, time } from './ui.js';

const SLOTS = ['primary', 'secondary'];
/** An hour: a client still holding the old key keeps working while it is given the new one. */
const DEFAULT_GRACE_SECONDS = 3600;

const titleCase = (slot) => `${slot[0].toUpperCase()}${slot.slice(1)}`;

export async function accountPage(name) {
  const can = await capabilities();
  const { data: account } = await call('GET', accountPath(name));
  // listKeys adds the keys in their grace period; before it, getAccount's keys.
  const keys = can.has('listKeys')
    ? (await call('GET', `${accountPath(name)}/keys`)).data.keys
    : account.keys;
  const settings = account.settings && settingsSection(account, can);
  const remove = can.has('deleteAccount')
    && h('button', { type: 'button', class: 'danger', onclick: () => deleteAccountDialog(account.name) }, 'Delete account…');
  return {
    title: account.name,
    nodes: [
      h('p', {}, h('a', { href: '#/accounts' }, '← Accounts')),
      h('h1', { tabindex: '-1' }, `Account ${account.name}`),
      h('p', {}, 'Created ', time(account.created_at), '. ',
        h('a', { href: `#/audit?${new URLSearchParams({ account: account.name })}` }, 'Its audit trail')),
      settings,
      h('div', { class: 'slots' }, SLOTS.map((slot) => slotSection(account.name, slot, keys.filter((key) => key.slot === slot), can))),
      remove && h('p', {}, remove),
    ],
  };
}

/** How each setting reads, and what its `null` means. */
const SETTINGS = [
  ['scopes', 'Allowed scopes', (v) => (v === null ? 'every scope' : v.join(' ') || 'none')],
  ['rate_limit', 'Rate limit', (v) => (v === null ? 'the deployment\'s' : `${v} (requests/seconds)`)],
  ['max_token_lifetime', 'Longest token lifetime', (v) => (v === null ? 'each dialect\'s own' : `${v} s`)],
  ['disabled', 'State', (v) => (v ? 'disabled: its keys are refused' : 'enabled')],
];

function settingsSection(account, can) {
  const edit = can.has('updateAccount')
    && h('button', { type: 'button', onclick: () => settingsDialog(account, can) }, 'Edit settings…');
  return h('section', { class: 'panel', 'aria-labelledby': 'settings-title' },
    h('h2', { id: 'settings-title', tabindex: '-1' }, 'Settings'),
    h('dl', {}, SETTINGS.map(([name, label, show]) => [
      h('dt', {}, label),
      h('dd', { class: name === 'disabled' && account.settings[name] ? 'state-disabled' : undefined }, show(account.settings[name] ?? null)),
    ])),
    edit);
}

/** updateAccount with every setting as the form holds it: an empty field is `null`, the default. */
function settingsDialog(account, can) {
  const now = account.settings;
  dialog(`Settings of ${account.name}`, (close) => {
    const boxes = can.scopes().map((scope) => h('label', {}, h('input', { type: 'checkbox', value: scope, checked: now.scopes?.includes(scope) }), scope));
    const rate = h('input', { name: 'rate_limit', value: now.rate_limit ?? '', autocomplete: 'off', pattern: '[1-9][0-9]{0,8}/[1-9][0-9]{0,8}s?' });
    const lifetime = h('input', { name: 'max_token_lifetime', type: 'number', min: '1', max: '31536000', step: '1', value: now.max_token_lifetime ?? '' });
    const disabled = h('input', { name: 'disabled', type: 'checkbox', checked: now.disabled === true });
    const errors = h('div', { 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Save');
    return h('form', {
      onsubmit: async (event) => {
        event.preventDefault();
        const chosen = boxes.map((label) => label.firstChild).filter((box) => box.checked).map((box) => box.value);
        const body = {
          scopes: chosen.length > 0 ? chosen : null,
          rate_limit: rate.value.trim() || null,
          max_token_lifetime: lifetime.value ? Number(lifetime.value) : null,
          disabled: disabled.checked,
        };
        const saved = await busy(submit, errors, () => call('PATCH', accountPath(account.name), { body }));
        if (saved) {
          close();
          announce(`Settings of ${account.name} saved.`);
          await render({ focus: false });
          document.getElementById('settings-title')?.focus();
        }
      },
    },
    boxes.length > 0 && h('fieldset', {}, h('legend', {}, 'Allowed scopes (none ticked: every scope)'), boxes),
    field('Rate limit (optional)', rate, 'Token requests per window, as COUNT/SECONDS, e.g. 100/15s; empty: the deployment\'s.'),
    field('Longest token lifetime in seconds (optional)', lifetime, 'Longer tokens are shortened to it; empty: each dialect\'s own.'),
    h('div', { class: 'field' }, h('label', {}, disabled, ' Disabled: its keys are refused as unknown ones')),
    errors,
    h('div', { class: 'actions' }, submit, h('button', { type: 'button', onclick: close }, 'Cancel')));
  });
}

/** A slot: its current key (and any retiring one), with what may be done to them. */
function slotSection(account, slot, keys, can) {
  const titleId = `slot-${slot}`;
  const current = keys.find((key) => (key.state ?? 'active') === 'active');
  const ordered = [current, ...keys.filter((key) => key !== current)].filter(Boolean);
  const rotate = can.has('rotateKey')
    ? h('button', { type: 'button', class: 'primary', onclick: () => rotateDialog(account, slot, current) },
      current ? `Rotate ${slot} key…` : `Create ${slot} key…`)
    : h('p', { class: 'hint' }, 'Rotation is not available: this keymint\'s admin API has no rotateKey operation.');
  return h('section', { class: 'slot', 'aria-labelledby': titleId },
    h('h2', { id: titleId, tabindex: '-1' }, `${titleCase(slot)} key`),
    ordered.length === 0 && h('p', {}, 'No key in this slot.'),
    ordered.map((key) => keyFacts(key)),
    h('div', { class: 'actions' }, rotate));
}

function keyFacts(key) {
  const state = key.state ?? 'active';
  const fact = (label, value) => [h('dt', {}, label), h('dd', {}, value)];
  return h('div', { class: 'key' },
    h('dl', { 'aria-label': `Key ${key.id}` },
      fact('Id', h('code', {}, key.id)),
      fact('Name', key.name ?? '—'),
      fact('State', h('span', { class: `state-${state}` }, state === 'retiring' ? 'retiring (grace period)' : state)),
      fact('Created', time(key.created_at)),
      fact('Last used', time(key.last_used_at, 'never')),
      fact(state === 'retiring' ? 'Refused from' : 'Expires', time(key.expires_at, 'never')),
      fact('Scopes', key.scopes ? key.scopes.join(' ') || 'none' : 'every scope')),
    h('button', { type: 'button', class: 'danger', onclick: () => revokeDialog(key) }, `Revoke key ${key.id}…`));
}

/** Refreshes the page in place after a change, focus on the slot it was made to. */
async function refresh(slot) {
  await render({ focus: false });
  document.getElementById(`slot-${slot}`)?.focus();
}

function rotateDialog(account, slot, current) {
  dialog(current ? `Rotate the ${slot} key` : `Create a ${slot} key`, (close, box) => {
    const grace = h('input', { name: 'grace_period', type: 'number', min: '0', max: '2592000', step: '1', required: true, value: current ? DEFAULT_GRACE_SECONDS : 0, inputmode: 'numeric' });
    const name = h('input', { name: 'name', maxlength: '64', autocomplete: 'off', pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}' });
    const expires = h('input', { name: 'expires_at', type: 'datetime-local' });
    const errors = h('div', { 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', class: 'primary' }, current ? 'Rotate' : 'Create key');
    return h('form', {
      onsubmit: async (event) => {
        event.preventDefault();
        const body = {
          grace_period: Number(grace.value),
          ...(name.value.trim() && { name: name.value.trim() }),
          ...(expires.value && { expires_at: new Date(expires.value).toISOString() }),
        };
        // The key this page showed: if another admin rotated it meanwhile, keymint answers 412.
        const headers = current ? { 'If-Match': `"${current.id}"` } : {};
        const path = `${accountPath(account)}/slots/${slot}/rotations`;
        const rotated = await busy(submit, errors, () => call('POST', path, { body, headers }), (error) => {
          if (error.status !== 409 && error.status !== 412) return;
          errors.append(h('p', {}, 'Another change to this slot came first: the page now shows it. Cancel, then try again.'));
          render({ focus: false });
        });
        if (rotated) showSecret(box, slot, rotated.data);
      },
    },
    current && field('Grace period (seconds)', grace, `How long the old key ${current.id} keeps working; 0 refuses it at once.`),
    field('Name (optional)', name),
    field('Expires (optional, your local time)', expires, 'After it, the key is refused like an unknown one.'),
    errors,
    h('div', { class: 'actions' }, submit, h('button', { type: 'button', onclick: close }, 'Cancel')));
  });
}

function showSecret(box, slot, rotated) {
  const title = box.querySelector('h2');
  title.textContent = `New ${slot} key ${rotated.key.id}`;
  box.addEventListener('close', () => refresh(slot));
  const grace = rotated.previous?.expires_at;
  box.replaceChildren(...[title,
    h('p', { role: 'alert' }, 'Copy the new key now: keymint keeps only its hash and never shows it again.'),
    grace && h('p', {}, `The old key ${rotated.previous.id} keeps working until `, time(grace), '.'),
    secretField(slot, rotated.secret),
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', onclick: () => box.close() }, 'Done'))].filter(Boolean));
  box.querySelector('button').focus();
  announce(`Rotated: new ${slot} key ${rotated.key.id}.`);
}

function revokeDialog(key) {
  dialog(`Revoke key ${key.id}?`, (close) => {
    const errors = h('div', { 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', class: 'danger' }, 'Revoke');
    return h('form', {
      onsubmit: async (event) => {
        event.preventDefault();
        const revoked = await busy(submit, errors, () => call('DELETE', `keys/${encodeURIComponent(key.id)}`));
        if (revoked) {
          close();
          announce(`Key ${key.id} revoked.`);
          await refresh(key.slot);
        }
      },
    },
    h('p', {}, `The ${key.slot} key ${key.id} gets no token from now on, on every instance, and the tokens it minted stop passing introspection.`),
    errors,
    h('div', { class: 'actions' }, submit, h('button', { type: 'button', autofocus: true, onclick: close }, 'Cancel')));
  });
}

function deleteAccountDialog(name) {
  dialog(`Delete account ${name}?`, (close) => {
    const errors = h('div', { 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', class: 'danger' }, 'Delete account');
    return h('form', {
      onsubmit: async (event) => {
        event.preventDefault();
        const deleted = await busy(submit, errors, () => call('DELETE', accountPath(name)));
        if (deleted) {
          close();
          announce(`Account ${name} deleted.`);
          go('/accounts');
        }
      },
    },
    h('p', {}, `Every key of ${name} is revoked at once.`),
    errors,
    h('div', { class: 'actions' }, submit, h('button', { type: 'button', autofocus: true, onclick: close }, 'Cancel')));
  });
}
