// The console's pages, by the address's fragment (#/accounts, #/accounts/NAME, #/audit), so
// the server serves one page and the back button works.
import { accountPage } from './account.js';
import { accountsPage } from './accounts.js';
import { ApiError, call, onSignedOut, session } from './api.js';
import { auditPage } from './audit.js';
import { announce, busy, errorBox, field, h } from './ui.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');

/** The current address: its page path and query parameters. */
function location() {
  const [path, query = ''] = window.location.hash.replace(/^#/, '').split('?');
  return { path: path || '/', params: new URLSearchParams(query) };
}

/** Where to go: `#path?params`, empty parameters left out. */
export function go(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, value]) => value)).toString();
  const hash = `#${path}${query ? `?${query}` : ''}`;
  if (window.location.hash === hash) render();
  else window.location.hash = hash;
}

let notice = '';
let rendering = 0;

/** The sign-in page: the admin key goes to this tab's sessionStorage once keymint accepts it. */
function signInPage(next) {
  const input = h('input', {
    name: 'admin-key', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false',
  });
  const errors = h('div', { 'aria-live': 'polite' }, notice && h('p', { class: 'error', role: 'alert' }, notice));
  notice = '';
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', {
    'aria-labelledby': 'page-title',
    onsubmit: async (event) => {
      event.preventDefault();
      session.start(input.value.trim());
      const ok = await busy(submit, errors, () => call('GET', 'accounts', { query: { limit: 1 } }));
      if (!ok) {
        session.end();
      } else {
        announce('Signed in.');
        window.location.hash = next && next !== '#/sign-in' ? next : '#/accounts';
      }
    },
  },
  field('Admin key', input, 'Made by: keymint admin-keys create NAME. Kept in this tab only, until you sign out or close it.'),
  submit);
  return { title: 'Sign in', nodes: [h('h1', { id: 'page-title', tabindex: '-1' }, 'Sign in'), errors, form] };
}

/** The page for an address. */
async function page({ path, params }) {
  const account = /^\/accounts\/(.+)$/.exec(path);
  if (account) return accountPage(decodeURIComponent(account[1]));
  if (path === '/audit') return auditPage(params);
  if (path === '/accounts' || path === '/') return accountsPage(params);
  return { title: 'Not found', nodes: [h('h1', { tabindex: '-1' }, 'No such page'), h('p', {}, h('a', { href: '#/accounts' }, 'Accounts'))] };
}

/** Renders the current address; a later navigation wins over a slower earlier one. */
export async function render({ focus = true } = {}) {
  const ticket = ++rendering;
  const where = location();
  const signedIn = session.key() !== null;
  nav.hidden = !signedIn;
  let shown;
  if (!signedIn || where.path === '/sign-in') {
    shown = signInPage(where.params.get('next'));
  } else {
    for (const link of nav.querySelectorAll('a')) {
      const current = where.path.startsWith(link.hash.slice(1)) || (where.path === '/' && link.hash === '#/accounts');
      if (current) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    try {
      shown = await page(where);
    } catch (error) {
      if (error.name === 'SignedOut') return;
      if (!(error instanceof ApiError)) throw error;
      shown = { title: 'Error', nodes: [h('h1', { tabindex: '-1' }, 'Something went wrong'), errorBox(error), h('button', { type: 'button', onclick: () => render() }, 'Try again')] };
    }
  }
  if (ticket !== rendering) return;
  main.replaceChildren(...shown.nodes.flat().filter((node) => node !== undefined && node !== null && node !== false));
  document.title = `${shown.title} · keymint console`;
  if (focus) (main.querySelector('h1') ?? main).focus();
  if (shown.announce) announce(shown.announce);
}

onSignedOut((message) => {
  notice = message;
  const next = window.location.hash.startsWith('#/sign-in') ? '' : window.location.hash;
  for (const open of document.querySelectorAll('dialog')) open.close();
  go('/sign-in', { next });
});

document.getElementById('sign-out').addEventListener('click', () => {
  session.end();
  announce('Signed out.');
  window.location.hash = '#/sign-in';
});

window.addEventListener('hashchange', () => render());
render();
