/** Signals from a client: send one to a run, list a run's mailbox. */
import { decodeJson, encodeJson } from "../_payload.ts";
import { KagziError } from "../errors.ts";
import type { Services } from "./_services.ts";
import { timestampDate } from "@bufbuild/protobuf/wkt";

/** Options of {@linkcode Kagzi.signal} and `run.signal`. */
export interface SignalOptions {
  /** The namespace the run is in. @default the client's namespace */
  namespace?: string;
  /**
   * A signal with the same key sent to the same run is stored once. Without one, the SDK makes
   * one up before the first attempt, so a retried send stores the signal once.
   */
  idempotencyKey?: string;
}

/** What sending a signal stored. */
export interface SignalSent {
  /** The stored signal's id. */
  signalId: string;
  /** True when a signal with this idempotency key was already stored (nothing new was). */
  alreadyExists: boolean;
}

/** A signal in a run's mailbox. */
export interface SignalInfo {
  /** The signal's id. */
  id: string;
  /** Its name. */
  name: string;
  /** Its payload (decoded JSON), undefined when it had none. */
  payload: unknown;
  /** The idempotency key it was sent with, if any. */
  idempotencyKey: string | undefined;
  /** When it was stored. */
  sentAt: Date | undefined;
  /** When a wait of the run took it; undefined while it is pending. */
  consumedAt: Date | undefined;
}

/** Options of {@linkcode Kagzi.listSignals}. */
export interface ListSignalsOptions {
  /** The namespace the run is in. @default the client's namespace */
  namespace?: string;
  /** Only signals of this name. */
  name?: string;
}

/** Sends signal `name` to run `runId`; resolves once it is durably stored. */
export async function sendSignal(
  services: Services,
  namespace: string,
  runId: string,
  name: string,
  payload: unknown,
  options: SignalOptions,
): Promise<SignalSent> {
  if (typeof name !== "string" || name === "") {
    throw new KagziError("INVALID_ARGUMENT", "A signal needs a non-empty name", {
      subject: "signal_name",
      nonRetryable: true,
    });
  }
  const generated = !options.idempotencyKey;
  const res = await services.workflows.signalWorkflow({
    namespace: options.namespace ?? namespace,
    runId,
    signalName: name,
    payload: payload === undefined ? undefined : encodeJson(payload, `signal "${name}"`),
    idempotencyKey: options.idempotencyKey || autoIdempotencyKey(),
  }).catch(rethrow);
  // A generated key is this call's own: a signal found under it came from a retried attempt.
  return { signalId: res.signalId, alreadyExists: !generated && res.alreadyExists };
}

/** Every signal of a run (pending and consumed), oldest first. */
export async function listSignals(
  services: Services,
  namespace: string,
  runId: string,
  options: ListSignalsOptions,
): Promise<SignalInfo[]> {
  const out: SignalInfo[] = [];
  let pageToken = "";
  do {
    const res = await services.workflows.listSignals({
      namespace: options.namespace ?? namespace,
      runId,
      signalName: options.name ?? "",
      page: { pageSize: 1000, pageToken },
    }).catch(rethrow);
    for (const s of res.signals) {
      out.push({
        id: s.signalId,
        name: s.name,
        payload: s.payload?.data.length ? decodeJson(s.payload, `signal "${s.name}"`) : undefined,
        idempotencyKey: s.idempotencyKey && !s.idempotencyKey.startsWith(autoKeyPrefix)
          ? s.idempotencyKey
          : undefined,
        sentAt: s.createdAt && timestampDate(s.createdAt),
        consumedAt: s.consumedAt && timestampDate(s.consumedAt),
      });
    }
    pageToken = res.page?.hasMore ? res.page.nextPageToken : "";
  } while (pageToken);
  return out;
}

/** Prefix of the idempotency keys the SDK generates (listed as no key). */
const autoKeyPrefix = "kagzi-auto:";

/** An idempotency key for a signal sent without one, so that retrying it stores it once. */
export function autoIdempotencyKey(): string {
  return `${autoKeyPrefix}${crypto.randomUUID()}`;
}

function rethrow(err: unknown): never {
  throw KagziError.from(err);
}
