import { create } from "@bufbuild/protobuf";
import { type Payload, PayloadSchema } from "@kagzi/proto";
import { KagziError } from "./errors.ts";
import { jsonProblem } from "./_json_check.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Encodes a value that round-trips through JSON (see _json_check.ts); `undefined` becomes an
 * empty payload. Anything JSON would change is refused, naming where it sits.
 */
export function encodeJson(value: unknown, what: string): Payload {
  if (value === undefined) return create(PayloadSchema, { data: new Uint8Array(), metadata: {} });
  const problem = jsonProblem(value);
  if (problem) {
    throw new KagziError("INVALID_ARGUMENT", `${what} cannot be stored as JSON: ${problem}`, {
      subject: what,
      nonRetryable: true,
    });
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new KagziError(
      "INVALID_ARGUMENT",
      `${what} is not JSON-serializable: ${(err as Error).message}`,
      { subject: what, nonRetryable: true, cause: err },
    );
  }
  if (text === undefined) {
    throw new KagziError(
      "INVALID_ARGUMENT",
      `${what} is not JSON-serializable (a ${typeof value})`,
      { subject: what, nonRetryable: true },
    );
  }
  return create(PayloadSchema, { data: encoder.encode(text), metadata: { encoding: "json" } });
}

/** Decodes a payload written by {@linkcode encodeJson}; an empty one is `undefined`. */
export function decodeJson(p: Payload | undefined, what: string): unknown {
  if (!p || p.data.byteLength === 0) return undefined;
  const encoding = p.metadata.encoding ?? "json";
  if (encoding !== "json") {
    throw new KagziError(
      "INVALID_ARGUMENT",
      `${what} has encoding "${encoding}"; this SDK reads only "json"`,
      { subject: what, nonRetryable: true },
    );
  }
  try {
    return JSON.parse(decoder.decode(p.data));
  } catch (err) {
    throw new KagziError(
      "INVALID_ARGUMENT",
      `${what} is not valid JSON: ${(err as Error).message}`,
      {
        subject: what,
        nonRetryable: true,
        cause: err,
      },
    );
  }
}
