// Memoram through the client generated from /v3/api-docs/memoram. Its document's server is
// `.../api/v1`, so the client's base URL carries /api/v1 (src/servers.ts, from the document).
import { test } from "node:test";
import assert from "node:assert/strict";
import { memoramClient, serverPath, type MemoramError } from "../src/index.js";
import { bearerToken, claims, documented, server } from "./support.js";

const client = memoramClient(server.url);
const path = "/auth/token";

test("Memoram: the server path comes from the document", () => {
    assert.equal(serverPath.memoram, "/api/v1");
});

test("Memoram: api_key in the body gets a token", async () => {
    const { data, error, response } = await client.POST(path, { body: { api_key: server.key, expires_in: 600 } });
    assert.equal(error, undefined);
    assert.equal(response.status, 200);
    assert.equal(new URL(response.url).pathname, "/api/v1/auth/token");
    await documented("memoram", path, "post", response);
    assert.ok(data);
    assert.equal(data.token_type, "Bearer");
    const jwt = claims(data.token);
    assert.equal(jwt.sub, server.account);
    assert.equal(Number(jwt.exp) - Number(jwt.iat), 600);
    assert.ok(data.expires_at);
    assert.equal(Date.parse(data.expires_at) / 1000, Number(jwt.exp));
});

test("Memoram: expires_in is clamped, never an error", async () => {
    for (const [asked, given] of [[10, 60], [10_000_000, 86_400]] as const) {
        const { data, response } = await client.POST(path, { body: { api_key: server.key, expires_in: asked } });
        assert.equal(response.status, 200);
        const jwt = claims(data?.token);
        assert.equal(Number(jwt.exp) - Number(jwt.iat), given);
    }
});

function detail(error: MemoramError | undefined): string {
    assert.ok(error, "expected an error body");
    assert.equal(typeof error.detail, "string");
    assert.deepEqual(Object.keys(error), ["detail"]);
    return error.detail;
}

test("Memoram 401: an unknown key", async () => {
    const { data, error, response } = await client.POST(path, { body: { api_key: "mem_71c8d4fd816f195801803cd4c801735d" } });
    assert.equal(data, undefined);
    assert.equal(response.status, 401);
    await documented("memoram", path, "post", response);
    assert.equal(detail(error), "Invalid API key.");
});

test("Memoram 400: a missing api_key", async () => {
    // @ts-expect-error: api_key is required by the generated type
    const { error, response } = await client.POST(path, { body: { expires_in: 600 } });
    assert.equal(response.status, 400);
    await documented("memoram", path, "post", response);
    assert.equal(detail(error), "Invalid parameters: api_key: is required.");
});

test("Memoram 400: a mistyped expires_in", async () => {
    const { error, response } = await client.POST(path, {
        // @ts-expect-error: expires_in is an integer in the generated type
        body: { api_key: server.key, expires_in: "an hour" },
    });
    assert.equal(response.status, 400);
    await documented("memoram", path, "post", response);
    assert.match(detail(error), /expires_in/);
});

test("Memoram 403: a bearer token cannot create another", async () => {
    const token = await bearerToken();
    const { error, response } = await client.POST(path, {
        headers: { Authorization: `Bearer ${token}` },
        body: { api_key: server.key },
    });
    assert.equal(response.status, 403);
    await documented("memoram", path, "post", response);
    assert.equal(detail(error), "A bearer token cannot be used to create another token.");
});
