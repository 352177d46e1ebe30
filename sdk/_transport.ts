import { ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
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

/** HTTP statuses a proxy in front of a gRPC server answers while it is away: passing faults. */
const passingStatuses = new Set([429, 502, 503, 504]);

/**
 * The error of a first call (a client's health check, a worker's registration) that reached a
 * server answering, but not as an endpoint of `protocol`: a gRPC call answered with a plain HTTP
 * status (the Connect port answers 415). Not a passing fault, so never retried. Undefined for
 * any other failure.
 */
export function wrongEndpoint(
  err: unknown,
  addr: ServerAddress,
  protocol: Protocol | undefined,
): KagziError | undefined {
  if (protocol !== "grpc" || !(err instanceof ConnectError)) return undefined;
  const status = /^HTTP (\d{3})$/.exec(err.rawMessage)?.[1];
  if (status === undefined || passingStatuses.has(Number(status))) return undefined;
  return new KagziError(
    "INVALID_ARGUMENT",
    `The server at ${addressLabel(addr)} answered, but not as a gRPC endpoint (HTTP ${status}): ` +
      'protocol "grpc" needs the server\'s native gRPC port (--grpc-port / KAGZI_GRPC_PORT, ' +
      'default 50052); on this address use protocol "connect" (the default) or "grpc-web"',
    { subject: "protocol", nonRetryable: true, cause: err },
  );
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
