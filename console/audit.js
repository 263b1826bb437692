// The audit trail, newest first: filters (those listAuditEvents declares: account, outcome,
// time) and cursor paging.
import { call, capabilities } from './api.js';
import { go } from './app.js';
import { field, h, time } from './ui.js';

const OPERATION = 'listAuditEvents';
const PAGE_SIZE = 50;
/** What each filter is, by its query parameter; only those the API declares are offered. */
const FILTERS = [
  ['account', 'Account'],
  ['outcome', 'Outcome'],
  ['since', 'From (your local time)'],
  ['until', 'Until (your local time)'],
];
const TIMES = new Set(['since', 'until']);

/** `datetime-local` values and RFC 3339 times, both ways. */
const toInstant = (local) => (local ? new Date(local).toISOString() : '');
function toLocal(iso) {
  const at = new Date(iso);
  if (!iso || Number.isNaN(at.getTime())) return '';
  return new Date(at.getTime() - at.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
}

export async function auditPage(params) {
  const heading = h('h1', { tabindex: '-1' }, 'Audit trail');
  const can = await capabilities();
  if (!can.has(OPERATION)) {
    return {
      title: 'Audit trail',
      nodes: [heading, h('p', { role: 'status' }, 'Not available: this keymint\'s admin API has no listAuditEvents operation yet. The command line has it: keymint audit.')],
    };
  }
  const declared = (name) => can.parameter(OPERATION, name);
  // Without an outcome parameter, the outcomes the events may have are chosen from in the page.
  const outcomes = declared('outcome')?.schema?.enum ?? can.schema('AuditEventView')?.properties?.outcome?.enum;
  const inPage = !declared('outcome') && outcomes ? 'outcome' : null;
  const offered = FILTERS.filter(([name]) => declared(name) || name === inPage);
  const controls = offered.map(([name, label]) => {
    const value = params.get(name) ?? '';
    const control = name === 'outcome' && outcomes
      ? h('select', { name }, h('option', { value: '' }, 'any'), outcomes.map((choice) => h('option', { value: choice, selected: choice === value }, choice)))
      : h('input', { name, type: TIMES.has(name) ? 'datetime-local' : 'text', step: TIMES.has(name) ? '1' : undefined, value: TIMES.has(name) ? toLocal(value) : value, autocomplete: 'off' });
    const hint = name === inPage ? 'Applied to each page shown: the admin API has no outcome filter.' : undefined;
    return [name, label, control, hint];
  });
  const form = h('form', {
    class: 'inline',
    'aria-label': 'Filters',
    onsubmit: (event) => {
      event.preventDefault();
      go('/audit', Object.fromEntries(controls.map(([name, , control]) => [name, TIMES.has(name) ? toInstant(control.value) : control.value.trim()])));
    },
  }, controls.map(([, label, control, hint]) => field(label, control, hint)), h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Filter')));

  const query = Object.fromEntries(offered.map(([name]) => [name, params.get(name)]));
  const cursor = params.get('cursor');
  const sent = Object.fromEntries(Object.entries(query).filter(([name]) => name !== inPage));
  const { data } = await call('GET', 'audit-events', { query: { ...sent, cursor, limit: PAGE_SIZE } });
  const events = data.events.filter((event) => !inPage || !query[inPage] || event.outcome === query[inPage]);
  const columns = [['at', 'Time'], ['outcome', 'Outcome'], ['account', 'Account'], ['key_id', 'Key'], ['actor', 'Actor'], ['reason', 'Reason'], ['client_ip', 'Client']];
  const cell = (event, name) => {
    const value = event[name];
    if (name === 'at') return time(value);
    if (value === null || value === undefined || value === '') return '—';
    if (name === 'outcome' && event.count > 1) return `${value} ×${event.count}`;
    return String(value);
  };
  const table = events.length === 0
    ? h('p', {}, 'No events match.')
    : h('table', {},
      h('caption', { class: 'visually-hidden' }, 'Audit events, newest first'),
      h('thead', {}, h('tr', {}, columns.map(([, label]) => h('th', { scope: 'col' }, label)))),
      h('tbody', {}, events.map((event) => h('tr', {}, columns.map(([name]) => h('td', {}, cell(event, name)))))));
  const kept = Object.fromEntries(Object.entries(query).filter(([, value]) => value));
  const pages = h('nav', { 'aria-label': 'Pages of events', class: 'pages' },
    cursor && h('a', { href: `#/audit?${new URLSearchParams(kept)}` }, 'Newest'),
    data.next_cursor && h('a', { href: `#/audit?${new URLSearchParams({ ...kept, cursor: data.next_cursor })}` }, 'Older events'));
  return {
    title: 'Audit trail',
    announce: `${events.length} event${events.length === 1 ? '' : 's'} shown.`,
    nodes: [heading, form, table, pages],
  };
}
