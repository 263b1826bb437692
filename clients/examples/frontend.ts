// The README's example, kept type-checked by `tsc --noEmit` (run.sh). Not run: test/ does that.
import { volubileClient, origoidClient, veltClient, memoramClient } from "../src/index.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function tokens(origin: string, keyId: string, key: string): Promise<(string | undefined)[]> {
    // Volubile: X-Api-Key header; errors are ErrorResponse {timestamp, status, message, errors[]}
    const v = await volubileClient(origin).POST("/v1/auth/token", {
        headers: { "X-Api-Key": key },
        body: { scope: ["calls:read"] }, // only the documented scopes type-check
    });
    if (v.error) {
        // 400: v.error.errors?.[0]?.field === "scope[0]", .message; 401, 403, 429
        throw new Error(`${v.response.status} ${v.error.message}`);
    }
    const volubileToken = v.data.token; // string | undefined: Volubile's document marks nothing required

    // OrigoID: x-api-key header, or Authorization: Basic base64(id:secret); body optional
    const o = await origoidClient(origin).POST("/auth/token", {
        headers: { "x-api-key": key },
        body: { expireAfter: 600 },
    });
    let origoidToken: string | undefined;
    if (o.error) {
        switch (o.error.code) { // "UNAUTHORIZED" | "OUT_OF_RANGE" | ... (typed union)
            case "OUT_OF_RANGE":
            case "INVALID_REQUEST":
                console.warn(o.error.errors?.map((e) => `${e.field}: ${e.message}`));
                break;
            case "RATE_LIMIT_EXCEEDED":
                await sleep(Number(o.response.headers.get("retry-after")) * 1000);
                break;
        }
    } else {
        origoidToken = o.data.data.access_token; // required in the document, so a plain string
    }

    // Velt: credentials in the body (apiKey = key id, authToken = key); errors {error: {message, status}}
    const vt = await veltClient(origin).POST("/v1/auth/token/get", {
        body: { data: { apiKey: keyId, authToken: key, userId: "u1", userProperties: { organizationId: "o1" } } },
    });
    if (vt.error) console.warn(vt.error.error.status, vt.error.error.message); // "UNAUTHENTICATED", ...
    const veltToken = vt.data?.result.data.token;

    // Memoram: key in the body; errors {detail}
    const m = await memoramClient(origin).POST("/auth/token", { body: { api_key: key, expires_in: 600 } });
    if (m.error) console.warn(m.response.status, m.error.detail);
    const memoramToken = m.data?.token;

    return [volubileToken, origoidToken, veltToken, memoramToken];
}
