// Shared by the Node suites: what run.sh passes (one keymint, one account, one API key), and the
// openid-client configuration every test starts from.
import * as client from 'openid-client';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through tests/oauth-clients/run.sh`);
  return value;
}

/** What run.sh set up: the issuer URL is where keymint listens, as it is without --issuer. */
export const keymint = {
  get issuer() { return env('KEYMINT_URL'); },         // http://127.0.0.1:PORT
  get account() { return env('KEYMINT_ACCOUNT'); },
  get keyId() { return env('KEYMINT_KEY_ID'); },       // the client_id
  get key() { return env('KEYMINT_KEY'); },            // the client_secret
  get alg() { return env('KEYMINT_ALG'); },            // ES256 or RS256
  get resource() { return env('KEYMINT_RESOURCE'); },  // one --resource keymint was given
  audience: 'keymint',                                  // the default aud (--audience)
};

/** The client authentication methods keymint's metadata names, as openid-client spells them. */
export const AUTH_METHODS = {
  client_secret_basic: client.ClientSecretBasic,
  client_secret_post: client.ClientSecretPost,
};

/** Where openid-client looks for metadata: `oidc` (openid-configuration) or `oauth2` (RFC 8414). */
export const DISCOVERY = ['oidc', 'oauth2'];

/**
 * openid-client, configured as any client of an http:// issuer is: discovery from the issuer
 * alone, the API key's id and secret as client credentials. allowInsecureRequests only because
 * the issuer is plain http on loopback.
 */
export function discover({ algorithm = 'oidc', method = 'client_secret_basic', secret = keymint.key } = {}) {
  return client.discovery(
    new URL(keymint.issuer),
    keymint.keyId,
    undefined,
    AUTH_METHODS[method](secret),
    { algorithm, execute: [client.allowInsecureRequests] },
  );
}
