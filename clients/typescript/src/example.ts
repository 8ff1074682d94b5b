/**
 * What an app does first, written against the client: it is type-checked with the
 * client in CI, so a change of the document that would break an app breaks the build.
 */
import { agoraClient, describeProblem, type Schemas } from "./index";

/** Logs in, posts to friends, reacts to the post and reads the first page of the feed. */
export async function firstSteps(
  baseUrl: string,
  login: string,
  password: string,
): Promise<Schemas["FeedItem"][]> {
  const anonymous = agoraClient(baseUrl);
  const signedIn = await anonymous.POST("/api/v1/auth/login", { body: { login, password } });
  if (signedIn.error) {
    throw new Error(describeProblem(signedIn.error));
  }
  const me = agoraClient(baseUrl, signedIn.data.access_token);
  const posted = await me.POST("/api/v1/posts", {
    body: { text: "Hello from TypeScript", visibility: "friends" },
  });
  if (posted.error) {
    throw new Error(describeProblem(posted.error));
  }
  await me.PUT("/api/v1/posts/{id}/reactions", {
    params: { path: { id: posted.data.id } },
    body: { kind: "love" },
  });
  const feed = await me.GET("/api/v1/feed", { params: { query: { limit: 10 } } });
  if (feed.error) {
    throw new Error(describeProblem(feed.error));
  }
  return feed.data.items;
}
