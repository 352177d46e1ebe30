import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { KagziError } from "./errors.ts";
import { runtimeFetch } from "./_platform.ts";
import { retryInterceptor } from "./_backoff.ts";
import { type InProcessServer, inProcessTransport } from "./_in_process_transport.ts";

export type { InProcessServer };

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

/** The clock a worker times durable sleeps by: the in-process server's, else the system's. */
export function clockOf(addr: ServerAddress): () => number {
  return typeof addr !== "string" && typeof addr?.now === "function" ? () => addr.now!() : Date.now;
}

/** Where a client or worker reaches the server: a URL, or a server in this process. */
export type ServerAddress = string | InProcessServer;

/** How an address is named in messages. */
export function addressLabel(addr: ServerAddress): string {
  return typeof addr === "string" ? addr : "in-process server";
}

/** Options shared by every transport. */
export interface TransportOptions {
  apiKey?: string;
  /** @default "connect" */
  protocol?: Protocol;
  /** Retry calls that cannot happen twice while the server answers UNAVAILABLE, this long. */
  retryTimeoutMs?: number;
}

/**
 * Creates the transport for `addr`; Connect and gRPC-Web use fetch (any runtime, browsers too),
 * gRPC uses the factory `@kagzi/sdk/grpc` registered (node:http2), so this module's graph stays
 * browser-safe.
 */
export async function createTransport(
  addr: ServerAddress,
  options: TransportOptions,
): Promise<Transport> {
  if (typeof addr !== "string") {
    if (typeof addr?.fetch === "function") {
      return inProcessTransport(addr, options.protocol, keyInterceptors(options));
    }
    throw new KagziError(
      "INVALID_ARGUMENT",
      "Invalid server address: expected a URL string or a server with a fetch handler",
      { subject: "addr", nonRetryable: true },
    );
  }
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
  const interceptors = keyInterceptors(options);
  const fetch = runtimeFetch();
  const web = { baseUrl, useBinaryFormat: true, interceptors, ...(fetch ? { fetch } : {}) };
  switch (options.protocol ?? "connect") {
    case "connect":
      return createConnectTransport(web);
    case "grpc-web":
      return createGrpcWebTransport(web);
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

function keyInterceptors(options: TransportOptions): Interceptor[] {
  const retry = options.retryTimeoutMs ? [retryInterceptor(options.retryTimeoutMs)] : [];
  if (!options.apiKey) return retry;
  const key = options.apiKey;
  return [(next) => (req) => {
    req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  }, ...retry];
}
