/** The generated service clients one connection talks to, and the error mapping every call uses. */
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import {
  AdminService,
  BulkOperationService,
  EventService,
  HookService,
  RateLimitService,
  StreamService,
  TokenService,
  WorkflowScheduleService,
  WorkflowService,
} from "@kagzi/proto";
import { KagziError } from "../errors.ts";

/** The services a client talks to. */
export interface Services {
  workflows: Client<typeof WorkflowService>;
  admin: Client<typeof AdminService>;
  schedules: Client<typeof WorkflowScheduleService>;
  bulk: Client<typeof BulkOperationService>;
  streams: Client<typeof StreamService>;
  tokens: Client<typeof TokenService>;
  events: Client<typeof EventService>;
  hooks: Client<typeof HookService>;
  rateLimits: Client<typeof RateLimitService>;
  /** How long a call is retried while the server answers UNAVAILABLE. */
  retryTimeoutMs: number;
}

/** Clients of every service over one transport. */
export function createServices(transport: Transport, retryTimeoutMs = 0): Services {
  return {
    retryTimeoutMs,
    workflows: createClient(WorkflowService, transport),
    admin: createClient(AdminService, transport),
    schedules: createClient(WorkflowScheduleService, transport),
    bulk: createClient(BulkOperationService, transport),
    streams: createClient(StreamService, transport),
    tokens: createClient(TokenService, transport),
    events: createClient(EventService, transport),
    hooks: createClient(HookService, transport),
    rateLimits: createClient(RateLimitService, transport),
  };
}

/** Awaits `call()`, turning whatever it rejects with into a {@linkcode KagziError}. */
export async function rpc<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw KagziError.from(err);
  }
}
