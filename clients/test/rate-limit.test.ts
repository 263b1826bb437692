// Each dialect's documented 429, read through its generated types, on the keymint run.sh
// starts with `--rate-limit 2/60s`. The quota is the account's, shared by every dialect: two
// tokens spend it, and then every dialect refuses in its own shape.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { memoramClient, origoidClient, veltClient, volubileClient, type OrigoidError } from "../src/index.js";
import { claims, documented, limited } from "./support.js";

const volubile = volubileClient(limited.url);

function retryAfter(response: Response): number {
    assert.equal(response.status, 429);
    const seconds = Number(response.headers.get("retry-after"));
    assert.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= 60, `Retry-After: ${seconds}`);
    return seconds;
}

before(async () => {
    for (let i = 0; i < 2; i++) {
        const { data, response } = await volubile.POST("/v1/auth/token", {
            headers: { "X-Api-Key": limited.key },
            body: { scope: ["calls:read"] },
        });
        assert.equal(response.status, 200, "the first two requests are within the quota");
        assert.ok(claims(data?.token).sub);
    }
});

test("Volubile 429", async () => {
    const { data, error, response } = await volubile.POST("/v1/auth/token", {
        headers: { "X-Api-Key": limited.key },
        body: { scope: ["calls:read"] },
    });
    assert.equal(data, undefined);
    retryAfter(response);
    await documented("volubile", "/v1/auth/token", "post", response);
    // Volubile's published document gives its 429 the media type `*/*` (kept as published);
    // what is sent is JSON, which openapi-fetch parses, typed by the `*/*` entry.
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.ok(error);
    assert.equal(error.status, 429);
    assert.equal(typeof error.message, "string");
    assert.deepEqual(error.errors, []);
    assert.equal(response.headers.get("x-ratelimit-limit"), "2");
    assert.equal(response.headers.get("x-ratelimit-remaining"), "0");
});

test("OrigoID 429 RATE_LIMIT_EXCEEDED", async () => {
    const { error: fetched, response } = await origoidClient(limited.url).POST("/auth/token", {
        headers: { "x-api-key": limited.key },
    });
    // openapi-fetch 0.17 drops `null`-typed properties (`data`) from its error type; the
    // generated schema type keeps them (see README, "Known gaps").
    const error: OrigoidError | undefined = fetched;
    retryAfter(response);
    await documented("origoid", "/auth/token", "post", response);
    assert.equal(error?.result, "ERROR");
    assert.equal(error?.code, "RATE_LIMIT_EXCEEDED");
    assert.equal(error?.data, null);
});

test("Velt 429 RESOURCE_EXHAUSTED", async () => {
    const { error, response } = await veltClient(limited.url).POST("/v1/auth/token/get", {
        body: {
            data: {
                apiKey: limited.keyId,
                authToken: limited.key,
                userId: "u1",
                userProperties: { organizationId: "o1" },
            },
        },
    });
    retryAfter(response);
    await documented("velt", "/v1/auth/token/get", "post", response);
    assert.equal(error?.error.status, "RESOURCE_EXHAUSTED");
    assert.equal(typeof error?.error.message, "string");
});

test("Memoram 429", async () => {
    const { error, response } = await memoramClient(limited.url).POST("/auth/token", {
        body: { api_key: limited.key },
    });
    retryAfter(response);
    await documented("memoram", "/auth/token", "post", response);
    assert.equal(typeof error?.detail, "string");
});
