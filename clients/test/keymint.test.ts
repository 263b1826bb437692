// keymint's own endpoints through the client generated from /v3/api-docs/keymint:
// forward-auth (typed gateway headers), form-encoded introspection, JWKS, health, metrics.
import { test } from "node:test";
import assert from "node:assert/strict";
import { keymintClient, type KeymintError } from "../src/index.js";
import { bearerToken, documented, server } from "./support.js";

const client = keymintClient(server.url);
const form = { "Content-Type": "application/x-www-form-urlencoded" } as const;

function oauthError(error: KeymintError | undefined, code: string): KeymintError {
    assert.ok(error, "expected an error body");
    assert.equal(error.error, code);
    assert.equal(typeof error.error_description, "string");
    return error;
}

test("keymint: healthz and readyz", async () => {
    const health = await client.GET("/healthz");
    assert.equal(health.data?.status, "ok");
    await documented("keymint", "/healthz", "get", health.response);
    const ready = await client.GET("/readyz");
    assert.equal(ready.data?.status, "ready");
    await documented("keymint", "/readyz", "get", ready.response);
});

test("keymint: the JWKS holds the standard dialect's key pair, never the HS256 secret", async () => {
    const { data, response } = await client.GET("/.well-known/jwks.json");
    await documented("keymint", "/.well-known/jwks.json", "get", response);
    assert.equal(data?.keys.length, 1);
    assert.equal(data?.keys[0]?.alg, "ES256");
    assert.equal((data?.keys[0] as Record<string, unknown>)?.k, undefined);
    assert.equal(response.headers.get("cache-control"), "public, max-age=60");
});

test("keymint: metrics are text", async () => {
    const { data, response } = await client.GET("/metrics", { parseAs: "text" });
    await documented("keymint", "/metrics", "get", response);
    assert.match(data ?? "", /keymint_tokens_issued_total/);
});

test("keymint: forward-auth lets a token through to a route its scope covers", async () => {
    const token = await bearerToken(); // calls:read
    const { data, response } = await client.GET("/forward-auth", {
        params: { header: { "X-Original-Method": "GET", "X-Original-URI": "/v1/calls" } },
        headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(response.status, 200);
    await documented("keymint", "/forward-auth", "get", response);
    assert.deepEqual(data, { sub: server.account, scope: "calls:read", key_id: server.keyId });
    assert.equal(response.headers.get("x-auth-subject"), server.account);
    assert.equal(response.headers.get("x-auth-scopes"), "calls:read");
    assert.equal(response.headers.get("x-auth-key-id"), server.keyId);
});

test("keymint: forward-auth 403 for a scope the token lacks, 401 without credentials", async () => {
    const token = await bearerToken();
    const denied = await client.GET("/forward-auth", {
        params: { header: { "X-Original-Method": "GET", "X-Original-URI": "/v1/agents/42" } },
        headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(denied.response.status, 403);
    await documented("keymint", "/forward-auth", "get", denied.response);
    oauthError(denied.error, "insufficient_scope");
    assert.match(denied.response.headers.get("www-authenticate") ?? "", /insufficient_scope/);

    const anonymous = await client.GET("/forward-auth", {
        params: { header: { "X-Original-Method": "GET", "X-Original-URI": "/v1/calls" } },
    });
    assert.equal(anonymous.response.status, 401);
    await documented("keymint", "/forward-auth", "get", anonymous.response);
    oauthError(anonymous.error, "invalid_token");
    assert.match(anonymous.response.headers.get("www-authenticate") ?? "", /^Bearer/);
});

test("keymint: introspection of an active and a bogus token (form-encoded)", async () => {
    const token = await bearerToken();
    const active = await client.POST("/v1/auth/introspect", {
        headers: { ...form, "X-Api-Key": server.key },
        body: { token },
    });
    assert.equal(active.response.status, 200);
    await documented("keymint", "/v1/auth/introspect", "post", active.response);
    assert.ok(active.data);
    assert.equal(active.data.active, true);
    assert.equal(active.data.sub, server.account);
    assert.equal(active.data.client_id, server.keyId);
    assert.equal(active.data.scope, "calls:read");

    const bogus = await client.POST("/v1/auth/introspect", {
        headers: { ...form, "X-Api-Key": server.key },
        body: { token: "not-a-token" },
    });
    assert.deepEqual(bogus.data, { active: false });
});

test("keymint: introspection 400 without a token, 401 without a key", async () => {
    const missing = await client.POST("/v1/auth/introspect", {
        headers: { ...form, "X-Api-Key": server.key },
        // @ts-expect-error: token is required by the generated type
        body: {},
    });
    assert.equal(missing.response.status, 400);
    await documented("keymint", "/v1/auth/introspect", "post", missing.response);
    oauthError(missing.error, "invalid_request");

    const unauthenticated = await client.POST("/v1/auth/introspect", { headers: form, body: { token: "x" } });
    assert.equal(unauthenticated.response.status, 401);
    await documented("keymint", "/v1/auth/introspect", "post", unauthenticated.response);
    oauthError(unauthenticated.error, "invalid_client");
});
