// Volubile through the client generated from /v3/api-docs/volubile: a token, and each
// documented error read through the generated `ErrorResponse` type.
import { test } from "node:test";
import assert from "node:assert/strict";
import { volubileClient, type VolubileError } from "../src/index.js";
import { bearerToken, claims, documented, server } from "./support.js";

const client = volubileClient(server.url);
const path = "/v1/auth/token";

test("Volubile: an API key gets a scoped token", async () => {
    const { data, error, response } = await client.POST(path, {
        headers: { "X-Api-Key": server.key },
        body: { scope: ["calls:read", "agents:read"] },
    });
    assert.equal(error, undefined);
    assert.equal(response.status, 200);
    await documented("volubile", path, "post", response);
    assert.ok(data);
    assert.equal(data.tokenType, "Bearer");
    assert.equal(data.expiresIn, 900);
    const jwt = claims(data.token);
    assert.equal(jwt.sub, server.account);
    assert.equal(jwt.scope, "calls:read agents:read");
    assert.equal(response.headers.get("cache-control"), "no-store");
});

/** The common shape of every Volubile error body. */
function errorBody(error: VolubileError | undefined, status: number): VolubileError {
    assert.ok(error, "expected an error body");
    assert.equal(error.status, status);
    assert.equal(typeof error.message, "string");
    assert.ok(Array.isArray(error.errors));
    assert.ok(error.timestamp && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(error.timestamp), error.timestamp);
    return error;
}

test("Volubile 401: no API key", async () => {
    const { data, error, response } = await client.POST(path, { body: { scope: ["calls:read"] } });
    assert.equal(data, undefined);
    assert.equal(response.status, 401);
    await documented("volubile", path, "post", response);
    const body = errorBody(error, 401);
    assert.equal(body.message, "Missing or invalid API key");
    assert.deepEqual(body.errors, []);
    assert.match(response.headers.get("www-authenticate") ?? "", /X-Api-Key/);
});

test("Volubile 401: a wrong API key", async () => {
    const { error, response } = await client.POST(path, {
        headers: { "X-Api-Key": server.key.slice(0, -1) + (server.key.endsWith("A") ? "B" : "A") },
        body: { scope: ["calls:read"] },
    });
    assert.equal(response.status, 401);
    await documented("volubile", path, "post", response);
    errorBody(error, 401);
});

test("Volubile 400: an unknown scope, with the field error list", async () => {
    const { error, response } = await client.POST(path, {
        headers: { "X-Api-Key": server.key },
        // @ts-expect-error: the generated type allows only the documented scopes
        body: { scope: ["calls:read", "calls:delete"] },
    });
    assert.equal(response.status, 400);
    await documented("volubile", path, "post", response);
    const body = errorBody(error, 400);
    assert.equal(body.message, "Validation failed");
    const [first] = body.errors ?? [];
    assert.ok(first);
    assert.equal(first.field, "scope[1]");
    // The published document types rejectedValue as an object: a string is named in the message.
    assert.equal(first.rejectedValue, undefined);
    assert.match(first.message ?? "", /"calls:delete", expected one of calls:read/);
});

test("Volubile 400: a missing field", async () => {
    const { error, response } = await client.POST(path, {
        headers: { "X-Api-Key": server.key },
        // @ts-expect-error: `scope` is required by the generated type
        body: {},
    });
    assert.equal(response.status, 400);
    await documented("volubile", path, "post", response);
    const body = errorBody(error, 400);
    assert.equal(body.errors?.[0]?.field, "scope");
    assert.equal(body.errors?.[0]?.message, "is required");
});

test("Volubile 403: a bearer token cannot mint another", async () => {
    const token = await bearerToken();
    const { error, response } = await client.POST(path, {
        headers: { Authorization: `Bearer ${token}` },
        body: { scope: ["calls:read"] },
    });
    assert.equal(response.status, 403);
    await documented("volubile", path, "post", response);
    assert.equal(errorBody(error, 403).message, "Bearer tokens cannot be used to mint another token");
});
