import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { KagziError } from "./errors.ts";

/** Which wire protocol a client speaks. */
export type Protocol = "connect" | "grpc-web" | "grpc";

/** Creates a native gRPC transport; registered by `@kagzi/sdk/grpc` (it needs node:http2). */
export type GrpcTransportFactory = (
  baseUrl: string,
  interceptors: Interceptor[],
) => Transport | Promise<Transport>;

let grpcFactory: GrpcTransportFactory | undefined;

/** Makes `protocol: "grpc"` available; called by the `@kagzi/sdk/grpc` entry. */
export function registerGrpcTransport(factory: GrpcTransportFactory): void {
  grpcFactory = factory;
}

/** Options shared by every transport. */
export interface TransportOptions {
  apiKey?: string;
  /** @default "connect" */
  protocol?: Protocol;
}

/**
 * Creates the transport for `addr`; Connect and gRPC-Web use fetch (any runtime, browsers too),
 * gRPC uses the factory `@kagzi/sdk/grpc` registered (node:http2), so this module's graph stays
 * browser-safe.
 */
export async function createTransport(addr: string, options: TransportOptions): Promise<Transport> {
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    throw new KagziError(
      "INVALID_ARGUMENT",
      `Invalid server address ${
        JSON.stringify(addr)
      }: expected a URL like "http://localhost:50051"`,
      {
        subject: "addr",
        nonRetryable: true,
      },
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new KagziError(
      "INVALID_ARGUMENT",
      `Invalid server address ${JSON.stringify(addr)}: use http:// or https://`,
      {
        subject: "addr",
        nonRetryable: true,
      },
    );
  }
  const baseUrl = url.href.replace(/\/$/, "");
  const interceptors: Interceptor[] = [];
  if (options.apiKey) {
    const key = options.apiKey;
    interceptors.push((next) => (req) => {
      req.header.set("authorization", `Bearer ${key}`);
      return next(req);
    });
  }
  switch (options.protocol ?? "connect") {
    case "connect":
      return createConnectTransport({ baseUrl, useBinaryFormat: true, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, useBinaryFormat: true, interceptors });
    case "grpc":
      if (!grpcFactory) {
        throw new KagziError(
          "INVALID_ARGUMENT",
          'Protocol "grpc" needs node:http2, which this entry leaves out: import "@kagzi/sdk/grpc" ' +
            '(Deno, Node) or "@kagzi/sdk", or use protocol "connect"',
          { subject: "protocol", nonRetryable: true },
        );
      }
      return await grpcFactory(baseUrl, interceptors);
    default:
      throw new KagziError(
        "INVALID_ARGUMENT",
        `Unknown protocol ${JSON.stringify(options.protocol)}: use "connect", "grpc-web" or "grpc"`,
        {
          subject: "protocol",
          nonRetryable: true,
        },
      );
  }
}
