// jose (panva), unmodified, as a resource server verifies keymint's tokens: the JWKS named by the
// metadata, the issuer, the audience, the RFC 9068 `typ` and one pinned algorithm. The tokens come
// from openid-client's client credentials grant.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as jose from 'jose';
import * as client from 'openid-client';
import { discover, keymint } from './lib.mjs';

let config;
let jwks;

/** What a resource server configured for `audience` accepts, and nothing else. */
function verify(token, { audience = keymint.audience, algorithms = [keymint.alg] } = {}) {
  return jose.jwtVerify(token, jwks, { issuer: keymint.issuer, audience, typ: 'at+jwt', algorithms });
}

async function accessToken(parameters) {
  return (await client.clientCredentialsGrant(config, parameters)).access_token;
}

before(async () => {
  config = await discover();
  jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
});

describe('jose verifying keymint access tokens against the published JWKS', () => {
  it('accepts a token for the default audience and reads RFC 9068 claims from it', async () => {
    const { payload, protectedHeader } = await verify(await accessToken({ scope: 'calls:read' }));
    assert.equal(protectedHeader.alg, keymint.alg);
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(typeof protectedHeader.kid, 'string');
    assert.equal(payload.iss, keymint.issuer);
    assert.equal(payload.sub, keymint.account);
    assert.deepEqual([payload.aud].flat(), [keymint.audience]);
    assert.equal(payload.client_id, keymint.keyId);
    assert.equal(payload.scope, 'calls:read');
    assert.match(payload.jti, /^[0-9a-f-]{36}$/);
    assert.ok(payload.iat <= payload.nbf && payload.nbf < payload.exp);
  });

  it('accepts a token asked for with `resource` only where that resource is the audience', async () => {
    const token = await accessToken({ resource: keymint.resource });
    const { payload } = await verify(token, { audience: keymint.resource });
    assert.deepEqual([payload.aud].flat(), [keymint.resource]);
    await assert.rejects(verify(token), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
  });

  it('refuses a token whose claims were changed after signing', async () => {
    const [header, payload, signature] = (await accessToken()).split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url'));
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url');
    await assert.rejects(verify(`${header}.${forged}.${signature}`), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });

  it('refuses a token signed with an algorithm the resource server did not pin', async () => {
    const other = keymint.alg === 'ES256' ? 'RS256' : 'ES256';
    await assert.rejects(verify(await accessToken(), { algorithms: [other] }), { code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });
});
