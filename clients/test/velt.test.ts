// Velt through the client generated from /v3/api-docs/velt: credentials travel in the body;
// errors follow the callable-function convention `{error: {message, status}}` (no field list).
import { test } from "node:test";
import assert from "node:assert/strict";
import { veltClient, type VeltError, type VeltErrorStatus } from "../src/index.js";
import { bearerToken, claims, documented, server } from "./support.js";

const client = veltClient(server.url);
const path = "/v1/auth/token/get";
const request = (authToken = server.key) => ({
    data: {
        apiKey: server.keyId,
        authToken,
        userId: "u1",
        userProperties: { organizationId: "o1", isAdmin: true, email: "u1@example.com" },
    },
});

test("Velt: key id and key in the body get a 48 h user token", async () => {
    const { data, error, response } = await client.POST(path, { body: request() });
    assert.equal(error, undefined);
    assert.equal(response.status, 200);
    await documented("velt", path, "post", response);
    assert.ok(data);
    assert.equal(data.result.status, "success");
    assert.equal(data.result.message, "Token generated successfully.");
    const jwt = claims(data.result.data.token);
    assert.equal(jwt.userId, "u1");
    assert.equal(jwt.organizationId, "o1");
    assert.equal(jwt.isAdmin, true);
    assert.equal(jwt.email, "u1@example.com");
    assert.equal(Number(jwt.exp) - Number(jwt.iat), 48 * 3600);
});

function failure(error: VeltError | undefined, status: VeltErrorStatus): VeltError["error"] {
    assert.ok(error, "expected an error body");
    assert.equal(error.error.status, status);
    assert.equal(typeof error.error.message, "string");
    return error.error;
}

test("Velt 401 UNAUTHENTICATED: a wrong auth token", async () => {
    const { data, error, response } = await client.POST(path, { body: request("km_not_a_key") });
    assert.equal(data, undefined);
    assert.equal(response.status, 401);
    await documented("velt", path, "post", response);
    assert.equal(failure(error, "UNAUTHENTICATED").message, "Invalid API key or auth token.");
});

test("Velt 400 INVALID_ARGUMENT: a missing auth token", async () => {
    const { error, response } = await client.POST(path, {
        // @ts-expect-error: authToken is required by the generated type
        body: { data: { apiKey: server.keyId, userId: "u1", userProperties: { organizationId: "o1" } } },
    });
    assert.equal(response.status, 400);
    await documented("velt", path, "post", response);
    assert.equal(failure(error, "INVALID_ARGUMENT").message, "Auth token not found.");
});

test("Velt 400 INVALID_ARGUMENT: an empty userId", async () => {
    const body = request();
    const { error, response } = await client.POST(path, { body: { data: { ...body.data, userId: "" } } });
    assert.equal(response.status, 400);
    await documented("velt", path, "post", response);
    failure(error, "INVALID_ARGUMENT");
});

test("Velt 403 PERMISSION_DENIED: a bearer token cannot generate another", async () => {
    const token = await bearerToken();
    const { error, response } = await client.POST(path, {
        headers: { Authorization: `Bearer ${token}` },
        body: request(),
    });
    assert.equal(response.status, 403);
    await documented("velt", path, "post", response);
    failure(error, "PERMISSION_DENIED");
});
