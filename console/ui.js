// Building pages node by node (the policy forbids HTML strings), dialogs, announcements.

/** An element: attributes by name (`on*` are listeners), then children (nodes or text). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : value);
  }
  element.append(...children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

/** Read out by screen readers without moving focus. */
export function announce(message) {
  const announcer = document.getElementById('announcer');
  announcer.textContent = '';
  // A fresh text node, so the same message twice is read twice.
  setTimeout(() => { announcer.textContent = message; }, 50);
}

let ids = 0;
/** A unique id for label/aria-* pairs. */
export const uid = (prefix) => `${prefix}-${++ids}`;

const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** A time as the reader's locale writes it, machine-readable too; `none` if there is none. */
export function time(iso, none = '—') {
  if (!iso) return none;
  return h('time', { datetime: iso }, when.format(new Date(iso)));
}

/** A labelled control (an input or select), with an optional hint read after its label. */
export function field(label, control, hint) {
  control.id ||= uid('field');
  const wrapper = h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
  if (hint) {
    control.setAttribute('aria-describedby', `${control.id}-hint`);
    wrapper.append(h('small', { id: `${control.id}-hint` }, hint));
  }
  return wrapper;
}

/** An error from the admin API, its fields at fault listed, as an alert. */
export function errorBox(error) {
  const fields = error.problem?.errors ?? [];
  return h('div', { class: 'error', role: 'alert' },
    h('p', {}, error.message),
    fields.length > 0 && h('ul', {}, fields.map((f) => h('li', {}, `${f.field}: ${f.detail}`))));
}

/**
 * A modal dialog: the page behind is inert (focus stays inside), Escape closes it, and focus
 * returns to where it was. `build(close)` gives its content; the first field or `autofocus`
 * element takes focus.
 */
export function dialog(title, build) {
  const opener = document.activeElement;
  const titleId = uid('dialog-title');
  const box = h('dialog', { 'aria-labelledby': titleId });
  const close = () => box.close();
  box.addEventListener('close', () => {
    box.remove();
    if (opener?.isConnected) opener.focus();
  });
  // The page behind is inert already; Tab from the last control comes back to the first, so
  // focus never leaves for the browser's own controls either.
  box.addEventListener('keydown', (event) => {
    if (event.key !== 'Tab') return;
    const controls = [...box.querySelectorAll('a[href], button, input, select')].filter((c) => !c.disabled);
    const [first, last] = [controls[0], controls.at(-1)];
    const leaving = event.shiftKey ? document.activeElement === first : document.activeElement === last;
    if (leaving) {
      event.preventDefault();
      (event.shiftKey ? last : first).focus();
    }
  });
  box.append(h('h2', { id: titleId }, title), ...[].concat(build(close, box)));
  document.body.append(box);
  box.showModal();
  return box;
}

/** Copies `input`'s value: the Clipboard API where the page may use it, else the selection. */
async function copy(input) {
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    if (!document.execCommand('copy')) throw new Error('copy refused');
  }
}

/** A slot's secret, shown once: read-only, selectable, with a copy button that says what it copies. */
export function secretField(slot, secret) {
  const what = `the ${slot} key's secret`;
  const id = uid('secret');
  const input = h('input', { id, class: 'secret', readonly: true, value: secret, spellcheck: 'false', autocomplete: 'off' });
  const status = h('span', { role: 'status', class: 'hint' });
  const button = h('button', {
    type: 'button',
    'aria-label': `Copy ${what}`,
    onclick: async () => {
      try {
        await copy(input);
        status.textContent = `Copied ${what}.`;
      } catch {
        status.textContent = 'Could not copy: select the text and copy it.';
      }
    },
  }, 'Copy');
  const label = `${slot[0].toUpperCase()}${slot.slice(1)} key's secret`;
  return h('div', { class: 'field' }, h('label', { for: id }, label), h('div', { class: 'copy-row' }, input, button), status);
}

/** Runs `action` with `button` disabled, showing a refusal in `errors` (and to `refused`). */
export async function busy(button, errors, action, refused = () => {}) {
  button.disabled = true;
  errors.replaceChildren();
  try {
    return await action();
  } catch (error) {
    if (error.status !== undefined) {
      errors.replaceChildren(errorBox(error));
      refused(error);
    } else if (error.name !== 'SignedOut') {
      throw error;
    }
    return undefined;
  } finally {
    button.disabled = false;
  }
}
