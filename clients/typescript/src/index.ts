/**
 * A typed client of Agora's HTTP API: openapi-fetch over the types that openapi-typescript
 * generates from the committed OpenAPI document (`npm run generate` writes
 * `src/schema.d.ts` from `docs/openapi.json`; it is generated, never committed).
 *
 * Every path of the document is a typed call: `client.POST("/api/v1/posts", { body })`
 * answers `{ data, error, response }`, `data` typed by the success response and `error`
 * by the documented problem (RFC 9457).
 */
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema";

export type { components, paths };

/** The document's schemas by name: `Schemas["PostView"]`, `Schemas["NewPost"]`, ... */
export type Schemas = components["schemas"];

/** The body of every error answer (`application/problem+json`). */
export type Problem = Schemas["Problem"];

export type AgoraClient = Client<paths>;

/**
 * A client of the platform at `baseUrl` (its gateway, e.g. `https://social.example.org`),
 * sending `accessToken` as the bearer token when given.
 */
export function agoraClient(baseUrl: string, accessToken?: string): AgoraClient {
  const headers: Record<string, string> = {};
  if (accessToken !== undefined) {
    headers["Authorization"] = `Bearer ${accessToken}`;
  }
  return createClient<paths>({ baseUrl, headers });
}

/** One line for a problem: status, title and what was wrong with which field. */
export function describeProblem(problem: Problem): string {
  const fields = (problem.errors ?? []).map((e) => `${e.field}: ${e.message}`).join("; ");
  return `${problem.status} ${problem.title}: ${problem.detail}${fields ? ` (${fields})` : ""}`;
}
