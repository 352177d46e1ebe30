/** Helpers of the token tests: a run's token once made, a run suspended, a POST to a URL. */
import type { Kagzi, TokenInfo } from "@kagzi/sdk";
import { waitFor } from "./_worker.ts";

/** The run's token named `name`, once the run has made it. */
export async function tokenOf(client: Kagzi, runId: string, name: string): Promise<TokenInfo> {
  let found: TokenInfo | undefined;
  await waitFor(`run ${runId} to make token ${name}`, async () => {
    found = (await client.listTokens(runId)).find((t) => t.name === name);
    return found !== undefined;
  });
  return found!;
}

/** Waits until the run is suspended (its worker slot free). */
export async function suspended(client: Kagzi, runId: string): Promise<void> {
  await waitFor(
    `run ${runId} suspended`,
    async () => (await client.get(runId)).status === "SLEEPING",
  );
}

/** POSTs `body` to a token URL as any HTTP client would (no API key). */
export const post = (
  url: string,
  body: BodyInit,
  headers: Record<string, string> = {},
): Promise<Response> =>
  fetch(url, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });

/** The secret id a token URL names (`?sig={secretId}.{hmac}`). */
export const secretOf = (url: string): number =>
  Number(new URL(url).searchParams.get("sig")!.split(".")[0]);
