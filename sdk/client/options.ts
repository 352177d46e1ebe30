/** The options of `Kagzi.connect` and the `{ namespace }` option of calls about one object. */
import type { Protocol } from "../_transport.ts";
import type { Duration } from "../duration.ts";

/** Options of `Kagzi.connect`. */
export interface ConnectOptions {
  /** Namespace used when a call names none. @default "default" */
  namespace?: string;
  /** Sent as `authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /**
   * Connect and gRPC-Web work everywhere (fetch); "grpc" needs node:http2 (Deno, Node) and
   * the `@kagzi/sdk/grpc` entry, which `@kagzi/sdk` imports. @default "connect"
   */
  protocol?: Protocol;
  /** How long `connect` waits for the server to answer. @default "10s" */
  connectTimeout?: Duration;
  /**
   * How long a call keeps retrying while the server answers UNAVAILABLE (its database is
   * away, it restarts), never past the call's own timeout. Retried: reads, `start()` (with its
   * workflow id, generated before the first attempt when none is given) and `signal()` (with
   * its idempotency key, likewise generated). `"0s"` turns retries off. @default "30s"
   */
  retryTimeout?: Duration;
}

/** The `{ namespace }` option of calls about one object. */
export interface NamespaceOption {
  /** The namespace of the object. @default the client's namespace */
  namespace?: string;
}
