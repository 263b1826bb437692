// The standard dialect through the client generated from /v3/api-docs/oauth: the client
// credentials grant with HTTP Basic or posted credentials, its RFC 6749 errors, introspection,
// revocation and discovery.
import { test } from "node:test";
import assert from "node:assert/strict";
import { oauthClient, type OAuthError } from "../src/index.js";
import { claims, documented, server } from "./support.js";

const client = oauthClient(server.url);
const form = { "Content-Type": "application/x-www-form-urlencoded" } as const;
const basic = { Authorization: `Basic ${Buffer.from(`${server.keyId}:${server.key}`).toString("base64")}` };
// openapi-fetch serializes bodies as JSON unless told otherwise.
const asForm = (body: object): string => {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(body)) {
        for (const one of [value].flat()) if (one !== undefined) params.append(name, String(one));
    }
    return params.toString();
};

function oauthError(error: OAuthError | undefined, code: string): OAuthError {
    assert.ok(error, "expected an error body");
    assert.equal(error.error, code);
    assert.equal(typeof error.error_description, "string");
    return error;
}

test("OAuth: client_secret_basic gets an at+jwt access token", async () => {
    const { data, response } = await client.POST("/oauth2/token", {
        headers: { ...form, ...basic },
        body: { grant_type: "client_credentials", scope: "calls:read" },
        bodySerializer: asForm,
    });
    assert.equal(response.status, 200);
    await documented("oauth", "/oauth2/token", "post", response);
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.ok(data);
    assert.equal(data.token_type, "Bearer");
    assert.equal(data.scope, "calls:read");
    const jwt = claims(data.access_token);
    assert.equal(jwt.client_id, server.keyId);
    assert.equal(jwt.sub, server.account);
});

test("OAuth: client_secret_post gets a token, and an unknown grant type is refused", async () => {
    const posted = await client.POST("/oauth2/token", {
        headers: form,
        body: { grant_type: "client_credentials", client_id: server.keyId, client_secret: server.key },
        bodySerializer: asForm,
    });
    assert.equal(posted.response.status, 200);
    const refused = await client.POST("/oauth2/token", {
        headers: { ...form, ...basic },
        // What the types forbid, sent anyway: the server says why.
        body: { grant_type: "password" as "client_credentials" },
        bodySerializer: asForm,
    });
    assert.equal(refused.response.status, 400);
    await documented("oauth", "/oauth2/token", "post", refused.response);
    oauthError(refused.error, "unsupported_grant_type");
});

test("OAuth: a wrong secret is invalid_client with a Basic challenge", async () => {
    const { error, response } = await client.POST("/oauth2/token", {
        headers: { ...form, Authorization: `Basic ${Buffer.from(`${server.keyId}:wrong`).toString("base64")}` },
        body: { grant_type: "client_credentials" },
        bodySerializer: asForm,
    });
    assert.equal(response.status, 401);
    assert.match(response.headers.get("www-authenticate") ?? "", /^Basic /);
    oauthError(error, "invalid_client");
});

test("OAuth: introspection, revocation, and introspection again", async () => {
    const issued = await client.POST("/oauth2/token", {
        headers: { ...form, ...basic },
        body: { grant_type: "client_credentials" },
        bodySerializer: asForm,
    });
    const token = issued.data?.access_token ?? "";
    const before = await client.POST("/oauth2/introspect", { headers: { ...form, ...basic }, body: { token }, bodySerializer: asForm });
    await documented("oauth", "/oauth2/introspect", "post", before.response);
    assert.equal(before.data?.active, true);
    const revoked = await client.POST("/oauth2/revoke", { headers: { ...form, ...basic }, body: { token }, bodySerializer: asForm });
    assert.equal(revoked.response.status, 200);
    await documented("oauth", "/oauth2/revoke", "post", revoked.response);
    const after = await client.POST("/oauth2/introspect", { headers: { ...form, ...basic }, body: { token }, bodySerializer: asForm });
    assert.deepEqual(after.data, { active: false });
});

test("OAuth: discovery names the issuer and the endpoints", async () => {
    const { data, response } = await client.GET("/.well-known/oauth-authorization-server");
    await documented("oauth", "/.well-known/oauth-authorization-server", "get", response);
    assert.ok(data);
    assert.equal(data.token_endpoint, `${data.issuer}/oauth2/token`);
    assert.deepEqual(data.grant_types_supported, ["client_credentials"]);
});
