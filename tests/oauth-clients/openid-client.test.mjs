// openid-client (panva), unmodified, against keymint: discovery from either well-known document,
// the client credentials grant with either client authentication method, RFC 6749 errors as the
// client surfaces them, introspection (RFC 7662) and revocation (RFC 7009).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as client from 'openid-client';
import { AUTH_METHODS, DISCOVERY, discover, keymint } from './lib.mjs';

for (const algorithm of DISCOVERY) {
  describe(`openid-client discovering keymint (${algorithm})`, () => {
    it('accepts the metadata and finds every endpoint under the issuer', async () => {
      const metadata = (await discover({ algorithm })).serverMetadata();
      assert.equal(metadata.issuer, keymint.issuer);
      for (const endpoint of ['token_endpoint', 'jwks_uri', 'revocation_endpoint', 'introspection_endpoint']) {
        assert.ok(metadata[endpoint].startsWith(`${keymint.issuer}/`), `${endpoint}: ${metadata[endpoint]}`);
      }
      assert.deepEqual(metadata.grant_types_supported, ['client_credentials']);
      assert.deepEqual(metadata.token_endpoint_auth_methods_supported.toSorted(), Object.keys(AUTH_METHODS).toSorted());
      assert.ok(metadata.id_token_signing_alg_values_supported.includes(keymint.alg));
    });

    for (const method of Object.keys(AUTH_METHODS)) {
      describe(`authenticating with ${method}`, () => {
        it('gets a Bearer access token with every scope the key may grant', async () => {
          const config = await discover({ algorithm, method });
          const token = await client.clientCredentialsGrant(config);
          assert.equal(token.token_type.toLowerCase(), 'bearer');
          assert.ok(token.expires_in > 0);
          assert.ok(token.expiresIn() > 0);
          assert.deepEqual(token.scope.split(' ').toSorted(), config.serverMetadata().scopes_supported.toSorted());
        });

        it('introspects its token as active, then revokes it, and then introspects it as inactive', async () => {
          const config = await discover({ algorithm, method });
          const { access_token: token } = await client.clientCredentialsGrant(config, { scope: 'calls:read' });

          const active = await client.tokenIntrospection(config, token);
          assert.equal(active.active, true);
          assert.equal(active.scope, 'calls:read');
          assert.equal(active.client_id, keymint.keyId);
          assert.equal(active.sub, keymint.account);
          assert.equal(active.iss, keymint.issuer);
          assert.deepEqual([active.aud].flat(), [keymint.audience]);
          assert.equal(active.token_type.toLowerCase(), 'bearer');
          assert.ok(active.exp > active.iat);

          await client.tokenRevocation(config, token);
          const revoked = await client.tokenIntrospection(config, token);
          assert.deepEqual(revoked, { active: false });
        });
      });
    }
  });
}

describe('openid-client asking keymint for less, or elsewhere', () => {
  it('gets only the scope it asks for', async () => {
    const token = await client.clientCredentialsGrant(await discover(), { scope: 'calls:read calls:write' });
    assert.equal(token.scope, 'calls:read calls:write');
  });

  it('gets a token for a resource server named by `resource` (RFC 8707)', async () => {
    const config = await discover({ method: 'client_secret_post' });
    const { access_token: token } = await client.clientCredentialsGrant(config, { resource: keymint.resource });
    const introspected = await client.tokenIntrospection(config, token);
    assert.deepEqual([introspected.aud].flat(), [keymint.resource]);
  });

  it('surfaces invalid_scope for a scope keymint does not know', async () => {
    const error = await refusal(client.clientCredentialsGrant(await discover(), { scope: 'calls:delete' }));
    assert.ok(error instanceof client.ResponseBodyError, `${error.name}: ${error.message}`);
    assert.equal(error.error, 'invalid_scope');
    assert.equal(error.status, 400);
  });

  it('is refused with a Basic challenge and invalid_client for a wrong secret in client_secret_basic', async () => {
    const error = await refusal(client.clientCredentialsGrant(await discover({ secret: `${keymint.key}x` })));
    // RFC 6749 §5.2: a client that authenticated with the Authorization header MUST get a 401
    // with a challenge in its scheme, which openid-client surfaces as the challenge.
    assert.ok(error instanceof client.WWWAuthenticateChallengeError, `${error.name}: ${error.message}`);
    assert.equal(error.status, 401);
    assert.deepEqual(error.cause.map((challenge) => challenge.scheme), ['basic']);
    assert.equal(error.cause[0].parameters.error, 'invalid_client');
    assert.equal(await errorCode(error), 'invalid_client');
  });

  it('is refused with a 401 and invalid_client for a wrong secret in client_secret_post', async () => {
    const secret = `${keymint.key}x`;
    const error = await refusal(client.clientCredentialsGrant(await discover({ method: 'client_secret_post', secret })));
    // No challenge without Basic, so openid-client reads the error body itself.
    assert.ok(error instanceof client.ResponseBodyError, `${error.name}: ${error.message}`);
    assert.equal(error.status, 401, `${error.name}: ${error.message}`);
    assert.equal(await errorCode(error), 'invalid_client');
  });
});

/** What `promise` was rejected with; fails the test if it was not. */
async function refusal(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the request to be refused');
}

/** The RFC 6749 error code of a refusal, whichever way openid-client surfaced it. */
async function errorCode(error) {
  if (error instanceof client.ResponseBodyError) return error.error;
  if (error instanceof client.WWWAuthenticateChallengeError) return (await error.response.json()).error;
  throw error;
}
