/** The raw WorkerService client and payloads of tests that drive the worker protocol by hand. */
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { WorkerService } from "@kagzi/proto";

/** A WorkerService client over Connect (binary) to the server at `url`. */
export function workerRpc(url: string): Client<typeof WorkerService> {
  return createClient(
    WorkerService,
    createConnectTransport({ baseUrl: url, useBinaryFormat: true }),
  );
}

/** A JSON payload as the SDK encodes it. */
export const json = (v: unknown): { data: Uint8Array; metadata: Record<string, string> } => ({
  data: new TextEncoder().encode(JSON.stringify(v)),
  metadata: { encoding: "json" },
});
