/** Tokens from a client: complete or fail one by its id, list a run's, rotate the URL secret. */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Token } from "@kagzi/proto";
import { decodeJson, encodeJson } from "../_payload.ts";
import { failureOf, KagziError } from "../errors.ts";
import { rpc, type Services } from "./_services.ts";

/** A token of a run, as the server keeps it. */
export interface TokenInfo {
  /** The token's id. */
  id: string;
  /** The run that made it. */
  runId: string;
  /** Its name (`ctx.token(name)`). */
  name: string;
  /** Which use of the name in the run (from 1). */
  occurrence: number;
  /** PENDING until completed or failed; EXPIRED when its timeout passed first. */
  status: "PENDING" | "COMPLETED" | "FAILED" | "EXPIRED";
  /** Its signed callback URL. */
  url: string;
  /** When the run made it. */
  createdAt: Date | undefined;
  /** When it expires unless completed before; undefined: never. */
  timeoutAt: Date | undefined;
  /** When it was completed or failed. */
  completedAt: Date | undefined;
  /** The value it was completed with (decoded JSON). */
  value: unknown;
  /** Why it was failed. */
  error: KagziError | undefined;
}

/** Options of the token calls. */
export interface TokenCallOptions {
  /** The namespace of the token's run. @default the client's namespace */
  namespace?: string;
}

const statuses = ["PENDING", "PENDING", "COMPLETED", "FAILED", "EXPIRED"] as const;

function tokenFromWire(t: Token): TokenInfo {
  return {
    id: t.tokenId,
    runId: t.runId,
    name: t.name,
    occurrence: t.occurrence,
    status: statuses[t.status] ?? "PENDING",
    url: t.url,
    createdAt: t.createdAt && timestampDate(t.createdAt),
    timeoutAt: t.timeoutAt && timestampDate(t.timeoutAt),
    completedAt: t.completedAt && timestampDate(t.completedAt),
    value: t.value?.data.length ? decodeJson(t.value, `token "${t.name}"`) : undefined,
    error: t.error ? failureOf(t.error) : undefined,
  };
}

/** Completes token `tokenId` with `value`. */
export async function completeToken(
  services: Services,
  namespace: string,
  tokenId: string,
  value: unknown,
): Promise<TokenInfo> {
  const res = await rpc(() =>
    services.tokens.completeToken({
      namespace,
      tokenId,
      value: encodeJson(value, "the token's value"),
    })
  );
  return tokenFromWire(res.token!);
}

/** Fails token `tokenId` for `reason`. */
export async function failToken(
  services: Services,
  namespace: string,
  tokenId: string,
  reason: string,
): Promise<TokenInfo> {
  const res = await rpc(() => services.tokens.failToken({ namespace, tokenId, reason }));
  return tokenFromWire(res.token!);
}

/** The tokens of run `runId`, oldest first. */
export async function listTokens(
  services: Services,
  namespace: string,
  runId: string,
): Promise<TokenInfo[]> {
  const res = await rpc(() => services.tokens.listTokens({ namespace, runId }));
  return res.tokens.map(tokenFromWire);
}

/** Options of `client.rotateTokenSecret()`. */
export interface RotateTokenSecretOptions {
  /**
   * Also delete every older secret, in the same transaction: URLs signed with them are refused
   * (401) by every server from then on — the way to revoke a leaked secret. Pending tokens keep
   * working through new URLs: `listTokens` hands them out signed with the new secret.
   * @default false
   */
  retireOlder?: boolean;
}

/** What a rotation of the token URL secret did. */
export interface TokenSecretRotation {
  /** The new secret's id: every URL handed out from now on is signed with it. */
  secretId: number;
  /** How many older secrets were deleted (0 unless `retireOlder`). */
  retired: number;
}

/** Adds a new secret for token URLs (retiring the older ones when asked). */
export async function rotateTokenSecret(
  services: Services,
  options: RotateTokenSecretOptions,
): Promise<TokenSecretRotation> {
  const retireOlder = (options ?? {}).retireOlder ?? false;
  if (typeof retireOlder !== "boolean") {
    throw new KagziError(
      "INVALID_ARGUMENT",
      `Cannot rotate the token secret: "retireOlder" is ${
        JSON.stringify(retireOlder) ?? typeof retireOlder
      }; it must be true or false`,
      { subject: "retireOlder", nonRetryable: true },
    );
  }
  const res = await rpc(() => services.tokens.rotateTokenSecret({ retireOlder }));
  return { secretId: res.secretId, retired: res.retired };
}
