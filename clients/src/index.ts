// A thin layer over the generated types (src/<document>.ts) and openapi-fetch: one client
// factory per document, taking keymint's origin, and names for the bodies a frontend handles.
// Everything typed here comes from the documents keymint serves; nothing is written by hand.
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type * as volubile from "./volubile.js";
import type * as origoid from "./origoid.js";
import type * as velt from "./velt.js";
import type * as memoram from "./memoram.js";
import type * as keymint from "./keymint.js";
import type * as oauth from "./oauth.js";
import type * as admin from "./admin.js";
import { serverPath } from "./servers.js";

export type { volubile, origoid, velt, memoram, keymint, oauth, admin };
export { serverPath };

/** Options of openapi-fetch's `createClient`, less `baseUrl` (the factory builds it). */
export type Options = Omit<ClientOptions, "baseUrl">;

const at = (origin: string, document: keyof typeof serverPath): string =>
    origin.replace(/\/+$/, "") + serverPath[document];

/** Volubile: `POST /v1/auth/token` with `X-Api-Key: <secret>`. */
export const volubileClient = (origin: string, options: Options = {}): Client<volubile.paths> =>
    createClient<volubile.paths>({ ...options, baseUrl: at(origin, "volubile") });

/** OrigoID: `POST /auth/token` with `x-api-key: <secret>` or Basic `<id>:<secret>`. */
export const origoidClient = (origin: string, options: Options = {}): Client<origoid.paths> =>
    createClient<origoid.paths>({ ...options, baseUrl: at(origin, "origoid") });

/** Velt: `POST /v1/auth/token/get`, credentials in the body. */
export const veltClient = (origin: string, options: Options = {}): Client<velt.paths> =>
    createClient<velt.paths>({ ...options, baseUrl: at(origin, "velt") });

/** Memoram: `POST /api/v1/auth/token` (its document's server carries `/api/v1`), key in the body. */
export const memoramClient = (origin: string, options: Options = {}): Client<memoram.paths> =>
    createClient<memoram.paths>({ ...options, baseUrl: at(origin, "memoram") });

/** keymint's own endpoints: forward-auth, introspection, JWKS, health. */
export const keymintClient = (origin: string, options: Options = {}): Client<keymint.paths> =>
    createClient<keymint.paths>({ ...options, baseUrl: at(origin, "keymint") });

/** OAuth 2.0: `POST /oauth2/token` (client credentials, form-encoded), revocation,
 * introspection and discovery. */
export const oauthClient = (origin: string, options: Options = {}): Client<oauth.paths> =>
    createClient<oauth.paths>({ ...options, baseUrl: at(origin, "oauth") });

/** The admin API (its document's server carries `/admin/v1`): accounts and their keys, with an
 * admin key as `Authorization: Bearer kma_...`; every refusal an RFC 9457 problem. */
export const adminClient = (origin: string, options: Options = {}): Client<admin.paths> =>
    createClient<admin.paths>({ ...options, baseUrl: at(origin, "admin") });

/** Success and error bodies, by document. */
export type VolubileToken = volubile.components["schemas"]["AuthTokenResponse"];
export type VolubileError = volubile.components["schemas"]["ErrorResponse"];
export type VolubileScope = volubile.components["schemas"]["AuthTokenRequest"]["scope"][number];
export type OrigoidToken = origoid.components["schemas"]["TokenResponse"];
export type OrigoidError = origoid.components["schemas"]["ErrorResponse"];
export type OrigoidResultCode = origoid.components["schemas"]["ResultCode"];
export type VeltToken = velt.components["schemas"]["GenerateTokenResponse"];
export type VeltError = velt.components["schemas"]["ErrorResponse"];
export type VeltErrorStatus = velt.components["schemas"]["ErrorStatus"];
export type MemoramToken = memoram.components["schemas"]["AuthTokenResponse"];
export type MemoramError = memoram.components["schemas"]["ErrorResponse"];
export type KeymintError = keymint.components["schemas"]["ErrorResponse"];
export type Introspection = keymint.components["schemas"]["IntrospectionResponse"];
export type OAuthToken = oauth.components["schemas"]["TokenResponse"];
export type OAuthError = oauth.components["schemas"]["ErrorResponse"];
export type OAuthErrorCode = oauth.components["schemas"]["ErrorCode"];
export type ServerMetadata = oauth.components["schemas"]["ServerMetadata"];
export type AdminAccountPage = admin.components["schemas"]["AccountPage"];
export type AdminAccount = admin.components["schemas"]["Account"];
export type AdminCreatedAccount = admin.components["schemas"]["CreatedAccount"];
export type AdminProblem = admin.components["schemas"]["Problem"];
