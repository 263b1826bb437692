// The peer: oidc-provider issuing ES256 JWT access tokens for the client_credentials grant.
// Usage: node provider.mjs PORT   (prints "listening" when ready)
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK } from 'jose';

const port = Number(process.argv[2]);
const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'bench' };

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  scopes: ['calls:read', 'agents:read'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:keymint:bench',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'calls:read agents:read',
        audience: 'urn:keymint:bench',
        accessTokenTTL: 900,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  jwks: { keys: [jwk] },
});
provider.listen(port, '127.0.0.1', () => console.log('listening'));
