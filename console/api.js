// The admin API, by addresses relative to the console (so a proxy's path prefix is kept), with
// the admin key kept in this tab's sessionStorage only.

const API = new URL('../admin/v1/', location.href);
const DOCUMENT = new URL('../v3/api-docs/admin', location.href);
const KEY = 'keymint.console.admin-key';

/** The admin key of this tab: gone when the tab closes or the user signs out. */
export const session = {
  key: () => sessionStorage.getItem(KEY),
  start: (key) => sessionStorage.setItem(KEY, key),
  end: () => sessionStorage.removeItem(KEY),
};

/** A refusal of the admin API: its status and RFC 9457 problem. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? (status === 0 ? 'keymint could not be reached.' : `keymint answered ${status}.`));
    this.status = status;
    this.problem = problem;
  }
}

/** The admin key is missing or was refused: the user is sent to sign in. */
export class SignedOut extends Error {
  name = 'SignedOut';
}

let signedOut = () => {};
/** What to do when the admin key is refused (401) or missing. */
export function onSignedOut(handler) {
  signedOut = handler;
}

/** Calls the admin API at `path` (relative to /admin/v1/): `{data, response}`, or throws. */
export async function call(method, path, { query = {}, body, headers = {} } = {}) {
  const key = session.key();
  if (!key) {
    signedOut('Sign in with an admin key.');
    throw new SignedOut();
  }
  const url = new URL(path, API);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, value);
  }
  const init = {
    method,
    headers: { Authorization: `Bearer ${key}`, Accept: 'application/json, application/problem+json', ...headers },
    cache: 'no-store',
    credentials: 'omit',
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, null);
  }
  if (response.status === 401) {
    session.end();
    signedOut('keymint refused the admin key: sign in again.');
    throw new SignedOut();
  }
  const data = /json/.test(response.headers.get('Content-Type') ?? '') ? await response.json().catch(() => null) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return { data, response };
}

/** An account's address under the API. */
export const accountPath = (name) => `accounts/${encodeURIComponent(name)}`;

let described;
/**
 * What this keymint's admin API offers, from its served document: screens whose operation is
 * missing say so rather than fail. Unreadable document: everything is assumed, errors shown.
 */
export function capabilities() {
  described ??= fetch(DOCUMENT, { cache: 'no-store', credentials: 'omit' })
    .then((response) => (response.ok ? response.json() : null))
    .catch(() => null)
    .then((document) => {
      const operations = new Map();
      for (const item of Object.values(document?.paths ?? {})) {
        for (const operation of Object.values(item)) {
          if (operation?.operationId) operations.set(operation.operationId, operation);
        }
      }
      const schema = (name) => document?.components?.schemas?.[name];
      return {
        has: (id) => !document || operations.has(id),
        /** A query parameter of an operation, or undefined. */
        parameter: (id, name) => (document
          ? operations.get(id)?.parameters?.find((p) => p.name === name && p.in === 'query')
          : { name, schema: {} }),
        /** A schema of the document's components, or undefined. */
        schema,
        /** The scopes the deployment offers (createAccount's enum). */
        scopes: () => schema('CreateAccountRequest')?.properties?.scopes?.items?.enum ?? [],
      };
    });
  return described;
}
