// The admin API through the client generated from /v3/api-docs/admin: an account created (201,
// both secrets once, one of which then gets a token), read, listed page by page, a key revoked
// (204); refusals are RFC 9457 problems.
import { test } from "node:test";
import assert from "node:assert/strict";
import { adminClient, volubileClient, type AdminProblem } from "../src/index.js";
import { adminKey, documented, server } from "./support.js";

const bearer = { Authorization: `Bearer ${adminKey}` };
const client = adminClient(server.url, { headers: bearer });
// Names of their own, so a second run on the same database would meet no 409.
const stamp = Date.now().toString(36);

function problem(error: AdminProblem | undefined, status: number): AdminProblem {
    assert.ok(error, "expected a problem");
    assert.equal(error.type, "about:blank");
    assert.equal(error.status, status);
    assert.equal(typeof error.detail, "string");
    return error;
}

test("admin: createAccount answers 201 with both secrets, and a secret gets a token", async () => {
    const name = `clients-${stamp}`;
    const { data, response } = await client.POST("/accounts", { body: { name, scopes: ["calls:read"] } });
    assert.equal(response.status, 201);
    await documented("admin", "/accounts", "post", response);
    assert.equal(response.headers.get("location"), `/admin/v1/accounts/${name}`);
    assert.ok(data);
    assert.deepEqual(data.keys.map((key) => key.slot), ["primary", "secondary"]);
    const token = await volubileClient(server.url).POST("/v1/auth/token", {
        headers: { "X-Api-Key": data.keys[0]!.secret },
        body: { scope: ["calls:read"] },
    });
    assert.equal(token.response.status, 200);

    const read = await client.GET("/accounts/{name}", { params: { path: { name } } });
    await documented("admin", "/accounts/{name}", "get", read.response);
    assert.deepEqual(read.data?.keys[0]?.scopes, ["calls:read"]);

    const revoked = await client.DELETE("/keys/{id}", { params: { path: { id: data.keys[1]!.id } } });
    assert.equal(revoked.response.status, 204);
    await documented("admin", "/keys/{id}", "delete", revoked.response);
});

test("admin: listAccounts pages with a cursor until next_cursor is null", async () => {
    const prefix = `page-${stamp}`;
    for (const n of [1, 2, 3]) {
        const { response } = await client.POST("/accounts", { body: { name: `${prefix}-${n}` } });
        assert.equal(response.status, 201);
    }
    const names: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
        const { data, response } = await client.GET("/accounts", { params: { query: { prefix, limit: 2, cursor } } });
        await documented("admin", "/accounts", "get", response);
        assert.ok(data);
        names.push(...data.accounts.map((account) => account.name));
        if (data.next_cursor === null) break;
        cursor = data.next_cursor;
    }
    assert.deepEqual(names, [1, 2, 3].map((n) => `${prefix}-${n}`));
});

test("admin: refusals are problems, a taken name 409 and a bad one 400 with its field", async () => {
    const taken = await client.POST("/accounts", { body: { name: server.account } });
    assert.equal(taken.response.status, 409);
    await documented("admin", "/accounts", "post", taken.response);
    problem(taken.error, 409);
    const bad = await client.POST("/accounts", { body: { name: "bad name" } });
    assert.equal(bad.response.status, 400);
    assert.equal(bad.response.headers.get("content-type"), "application/problem+json");
    assert.deepEqual(problem(bad.error, 400).errors?.map((error) => error.field), ["name"]);
    const anonymous = await adminClient(server.url).GET("/accounts");
    assert.equal(anonymous.response.status, 401);
    await documented("admin", "/accounts", "get", anonymous.response);
    assert.equal(anonymous.response.headers.get("www-authenticate"), 'Bearer realm="keymint-admin"');
    problem(anonymous.error, 401);
});
