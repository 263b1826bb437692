// What every test file shares: the servers run.sh started, a check that an answer is one the
// served document lists (status and media type), and a JWT claims reader.
import assert from "node:assert/strict";
import { volubileClient } from "../src/index.js";

function required(name: string): string {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set: run the tests with clients/run.sh`);
    return value;
}

/** The keymint run.sh started (defaults, account `clients`). */
export const server = {
    url: required("KEYMINT_URL"),
    key: required("KEYMINT_KEY"),
    keyId: required("KEYMINT_KEY_ID"),
    account: "clients",
};

/** An admin key of `server`'s database (`keymint admin-keys create clients`). */
export const adminKey = required("KEYMINT_ADMIN_KEY");

/** A second keymint, started with `--rate-limit 2/60s` (account `limited`). */
export const limited = {
    url: required("KEYMINT_LIMITED_URL"),
    key: required("KEYMINT_LIMITED_KEY"),
    keyId: required("KEYMINT_LIMITED_KEY_ID"),
};

export type Document = "volubile" | "origoid" | "velt" | "memoram" | "keymint" | "oauth" | "admin";

type Served = {
    paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
};
const served = new Map<string, Promise<Served>>();

/**
 * Asserts that `response` is an answer the document keymint serves at /v3/api-docs/<document>
 * lists for that operation: its status, and a media type it gives for that status. Generated
 * types describe the documented answers only, so an undocumented one would be mistyped.
 */
export async function documented(
    document: Document,
    path: string,
    method: string,
    response: Response,
): Promise<void> {
    let doc = served.get(document);
    if (!doc) {
        doc = fetch(`${server.url}/v3/api-docs/${document}`).then((r) => r.json() as Promise<Served>);
        served.set(document, doc);
    }
    const operation = (await doc).paths[path]?.[method];
    assert.ok(operation, `${document}: ${method.toUpperCase()} ${path} is not in the document`);
    const answer = operation.responses[String(response.status)];
    assert.ok(answer, `${document}: ${method.toUpperCase()} ${path} does not document ${response.status}`);
    const media = (type: string) => type.split(";")[0]!.trim().toLowerCase();
    const listed = Object.keys(answer.content ?? {}).map(media);
    const sent = media(response.headers.get("content-type") ?? "");
    // An answer documented without content is one without a body.
    const bodiless = listed.length === 0 && sent === "" && (await response.clone().text()) === "";
    assert.ok(
        bodiless || listed.includes(sent) || listed.includes("*/*"),
        `${document}: ${method.toUpperCase()} ${path} ${response.status} is ${sent}; the document lists [${listed}]`,
    );
}

/** The claims of a JWT (not verified: keymint's own tests do that). */
export function claims(token: string | undefined): Record<string, unknown> {
    assert.ok(token, "no token");
    const payload = token.split(".")[1];
    assert.ok(payload, "not a JWT");
    return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
}

/** A valid Volubile token of `server`'s account, to offer where a token may not mint another. */
export async function bearerToken(): Promise<string> {
    const { data } = await volubileClient(server.url).POST("/v1/auth/token", {
        headers: { "X-Api-Key": server.key },
        body: { scope: ["calls:read"] },
    });
    assert.ok(data?.token, "no token to offer");
    return data.token;
}
