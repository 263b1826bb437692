// The peer: oidc-provider issuing JWT access tokens for the client_credentials grant, signed
// with a fresh key of one algorithm: ES256 (the default) or RS256 (RSA-2048).
// Usage: node provider.mjs PORT [ES256|RS256]   (prints "listening" when ready)
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK } from 'jose';

const ALGORITHMS = {
  ES256: { extractable: true },
  RS256: { modulusLength: 2048, extractable: true },
};

const port = Number(process.argv[2]);
const alg = process.argv[3] ?? 'ES256';
if (!(alg in ALGORITHMS)) {
  console.error(`provider.mjs: the algorithm is one of ${Object.keys(ALGORITHMS).join(', ')}, not ${alg}`);
  process.exit(2);
}
const { privateKey } = await generateKeyPair(alg, ALGORITHMS[alg]);
const jwk = { ...(await exportJWK(privateKey)), alg, use: 'sig', kid: 'bench' };

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: alg,
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
        jwt: { sign: { alg } },
      }),
    },
  },
  jwks: { keys: [jwk] },
});
provider.listen(port, '127.0.0.1', () => console.log('listening'));
