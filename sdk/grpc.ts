/**
 * Native gRPC (HTTP/2 through `node:http2`) for the Kagzi client and worker in Deno and Node.
 * Importing this module makes `protocol: "grpc"` available to `Kagzi.connect` and
 * `Worker.builder(...).protocol("grpc")`. `@kagzi/sdk` imports it already; browser code
 * importing only `@kagzi/sdk/client` leaves it (and `node:*`) out of its bundle.
 *
 * @example Use native gRPC with the browser-safe client entry
 * ```ts ignore
 * import "@kagzi/sdk/grpc";
 * import { Kagzi } from "@kagzi/sdk/client";
 *
 * const client = await Kagzi.connect("http://localhost:50052", { protocol: "grpc" });
 * ```
 *
 * @module
 */
import { registerGrpcTransport } from "./_transport.ts";

// Loaded on first use, so `@kagzi/sdk` users who speak Connect never load node:http2.
registerGrpcTransport(async (baseUrl, interceptors) => {
  const { createGrpcTransport } = await import("@connectrpc/connect-node");
  return createGrpcTransport({ baseUrl, interceptors });
});
