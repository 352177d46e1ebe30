/**
 * The LISTEN session, kept alive by itself: one dedicated connection that listens on a channel
 * and, whenever that connection is lost (a terminated backend, a restart, a failover), listens
 * again with a backoff capped at half a second until the database answers, then says so
 * (`onReconnect`), since notifications sent meanwhile were missed.
 */
import postgres from "postgres";
import { reconnectBackoff } from "./faults.ts";

/** What {@linkcode listenResilient} calls. */
export interface ListenHandlers {
  /** Each notification's payload. */
  onMessage(payload: string): void;
  /** Listening again after the session was lost: anything sent meanwhile was missed. */
  onReconnect?(): void;
}

/** Listens on `channel` over its own connection to `url`; resolves once listening. */
export async function listenResilient(
  url: string,
  channel: string,
  handlers: ListenHandlers,
): Promise<() => Promise<void>> {
  const statement = `listen "${channel.replaceAll('"', '""')}"`;
  let closed = false;
  let lost = false;
  let running = false;
  const sql = postgres(url, {
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    fetch_types: false,
    connect_timeout: 5,
    backoff: reconnectBackoff,
    onnotice: () => {},
    connection: { application_name: "kagzi-listen" },
    // Untyped in postgres.js: called with every notification of the connection.
    ...{
      onnotify: (ch: string, payload: string) => {
        if (ch === channel) handlers.onMessage(payload);
      },
    },
    onclose: () => {
      if (closed) return;
      lost = true;
      if (!running) void relisten();
    },
  });
  const relisten = async () => {
    running = true;
    let retries = 0;
    while (lost && !closed) {
      lost = false;
      try {
        await sql.unsafe(statement);
        retries = 0;
        if (!lost && !closed) handlers.onReconnect?.();
      } catch {
        lost = true;
        await new Promise((r) => setTimeout(r, reconnectBackoff(++retries) * 1000));
      }
    }
    running = false;
  };
  try {
    await sql.unsafe(statement);
  } catch (err) {
    closed = true;
    await sql.end({ timeout: 1 }).catch(() => {});
    throw err;
  }
  return async () => {
    closed = true;
    await sql.end({ timeout: 1 });
  };
}
