// OrigoID through the client generated from /v3/api-docs/origoid: tokens by API key and by
// Basic credentials, and each documented error envelope read through the generated types.
import { test } from "node:test";
import assert from "node:assert/strict";
import { origoidClient, type OrigoidError, type OrigoidResultCode } from "../src/index.js";
import { bearerToken, claims, documented, server } from "./support.js";

const client = origoidClient(server.url);
const path = "/auth/token";
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;

test("OrigoID: x-api-key and no body gets the default lifetime", async () => {
    const { data, error, response } = await client.POST(path, { headers: { "x-api-key": server.key } });
    assert.equal(error, undefined);
    assert.equal(response.status, 200);
    await documented("origoid", path, "post", response);
    assert.ok(data);
    assert.equal(data.result, "OK");
    assert.equal(data.code, "SUCCESS");
    assert.equal(data.billable, false);
    assert.equal(data.requestId, response.headers.get("x-request-id"));
    assert.match(data.timestamp, /-06:00$/);
    assert.equal(data.data.token_type, "Bearer");
    assert.equal(data.data.expires_in, 3600);
    assert.equal(claims(data.data.access_token).sub, server.account);
});

test("OrigoID: Basic credentials and expireAfter", async () => {
    const { data, response } = await client.POST(path, {
        headers: { Authorization: basic(server.keyId, server.key) },
        body: { expireAfter: 60 },
    });
    assert.equal(response.status, 200);
    await documented("origoid", path, "post", response);
    assert.equal(data?.data.expires_in, 60);
    const jwt = claims(data?.data.access_token);
    assert.equal(Number(jwt.exp) - Number(jwt.iat), 60);
});

test("OrigoID: an empty body is the documented default", async () => {
    const { data, response } = await client.POST(path, { headers: { "x-api-key": server.key }, body: {} });
    assert.equal(response.status, 200);
    assert.equal(data?.data.expires_in, 3600);
});

/** The common shape of every OrigoID error envelope. */
function envelope(error: OrigoidError | undefined, response: Response, code: OrigoidResultCode): OrigoidError {
    assert.ok(error, "expected an error envelope");
    assert.equal(error.result, "ERROR");
    assert.equal(error.code, code);
    assert.equal(error.data, null);
    assert.equal(error.billable, false);
    assert.equal(error.requestId, response.headers.get("x-request-id"));
    assert.match(error.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-06:00$/);
    assert.equal(typeof error.message, "string");
    return error;
}

test("OrigoID 401 UNAUTHORIZED: no credentials", async () => {
    const { data, error, response } = await client.POST(path);
    assert.equal(data, undefined);
    assert.equal(response.status, 401);
    await documented("origoid", path, "post", response);
    const body = envelope(error, response, "UNAUTHORIZED");
    assert.equal(body.errors, undefined);
});

test("OrigoID 401 UNAUTHORIZED: Basic with the wrong key id", async () => {
    const { error, response } = await client.POST(path, {
        headers: { Authorization: basic("AAAAAAAAAAA", server.key) },
    });
    assert.equal(response.status, 401);
    await documented("origoid", path, "post", response);
    envelope(error, response, "UNAUTHORIZED");
});

test("OrigoID 400 OUT_OF_RANGE: expireAfter beyond its bounds", async () => {
    for (const expireAfter of [0, 3601]) {
        const { error, response } = await client.POST(path, {
            headers: { "x-api-key": server.key },
            body: { expireAfter },
        });
        assert.equal(response.status, 400);
        await documented("origoid", path, "post", response);
        const body = envelope(error, response, "OUT_OF_RANGE");
        assert.equal(body.errors?.length, 1);
        assert.equal(body.errors?.[0]?.field, "expireAfter");
        assert.equal(body.errors?.[0]?.message, "expireAfter must be between 1 and 3600");
    }
});

test("OrigoID 400 INVALID_REQUEST: a mistyped field, with the field error list", async () => {
    const { error, response } = await client.POST(path, {
        headers: { "x-api-key": server.key },
        // @ts-expect-error: the generated type makes expireAfter a number
        body: { expireAfter: "soon" },
    });
    assert.equal(response.status, 400);
    await documented("origoid", path, "post", response);
    const body = envelope(error, response, "INVALID_REQUEST");
    assert.equal(body.errors?.[0]?.field, "expireAfter");
    assert.match(body.errors?.[0]?.message ?? "", /expected an integer/);
});

test("OrigoID 403 TOKEN_CHAINING_NOT_ALLOWED: a bearer token cannot mint another", async () => {
    const token = await bearerToken();
    const { error, response } = await client.POST(path, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(response.status, 403);
    await documented("origoid", path, "post", response);
    envelope(error, response, "TOKEN_CHAINING_NOT_ALLOWED");
});
