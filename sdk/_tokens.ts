/**
 * `ctx.token(name)`: a TOKEN step the server records once, holding the token's id and signed
 * URL; its `wait()` is a {@linkcode DurableWait} on the step's outcome (completed, failed, or
 * expired past its timeout — decided by the server's clock, so a replay sees the same).
 */
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { StepKind, type StepRecord, StepStatus } from "@kagzi/proto";
import type { Token, TokenOptions } from "./context.ts";
import { parseDuration } from "./duration.ts";
import { TokenFailedError, TokenTimeoutError } from "./errors.ts";
import { DurableWait } from "./_durable_wait.ts";
import { decodeJson } from "./_payload.ts";
import type { WaitHost } from "./_waits.ts";

/** The outcome of token `name` as its record says: its value, its error, or a durable wait. */
function outcome<T>(host: WaitHost, name: string, rec: StepRecord): Promise<T> {
  if (rec.status === StepStatus.COMPLETED) {
    return Promise.resolve().then(() =>
      (rec.output?.data.length ? decodeJson(rec.output, `token "${name}"`) : undefined) as T
    );
  }
  if (rec.status === StepStatus.FAILED) {
    const e = rec.error;
    return Promise.reject(
      e?.name === "TokenTimeoutError"
        ? new TokenTimeoutError(name, e.message)
        : new TokenFailedError(name, e?.message ?? ""),
    );
  }
  // WAITING: past its timeout (as of the claim) it is expired for good; no completion lands.
  if (rec.wakeUpAt && rec.due) {
    const at = timestampDate(rec.wakeUpAt).toISOString();
    return Promise.reject(
      new TokenTimeoutError(name, `Token "${name}" was not completed before ${at}`),
    );
  }
  return rec.wakeUpAt ? host.waitUntil(timestampDate(rec.wakeUpAt)) : host.waitForever();
}

/** The token of `rec` as the workflow sees it. */
function tokenOf<T>(host: WaitHost, name: string, rec: StepRecord): Token<T> {
  const occurrence = rec.step?.occurrence ?? 0;
  return {
    id: rec.tokenId,
    url: rec.tokenUrl,
    wait: () =>
      new DurableWait<T>(
        { kind: StepKind.TOKEN, name, occurrence, settle: (r) => outcome<T>(host, name, r) },
        () => outcome<T>(host, name, rec),
      ),
  };
}

/** `ctx.token(name, options)`: creates the token once and returns it. */
export function createToken<T>(
  host: WaitHost,
  name: string,
  options: TokenOptions = {},
): Promise<Token<T>> {
  if (host.gone()) return host.never;
  let timeoutMs: number | undefined;
  try {
    if (options.timeout !== undefined) timeoutMs = parseDuration(options.timeout, "timeout");
  } catch (err) {
    return Promise.reject(err);
  }
  const { occurrence, record } = host.next(StepKind.TOKEN, name);
  if (record) return Promise.resolve(tokenOf<T>(host, name, record));
  const timeoutAt = timeoutMs === undefined ? undefined : new Date(host.now() + timeoutMs);
  return host.track(
    host.fresh(StepKind.TOKEN, name, occurrence).then((ok) =>
      ok
        ? host.call("createToken", {
          lease: host.lease,
          step: { kind: StepKind.TOKEN, name, occurrence },
          timeoutAt: timeoutAt && timestampFromDate(timeoutAt),
        })
        : undefined
    ),
  ).then((res) => (res?.record ? tokenOf<T>(host, name, res.record) : host.never));
}
