/** The dashboard's connection to its server: the SDK client, the API key, the namespace. */
import { signal } from "@preact/signals";
import { Kagzi, KagziError } from "@kagzi/sdk/client";
import { route } from "./router.ts";

const keyName = "kagzi.apiKey";

/** Where the connection stands. */
export type Connection =
  | { state: "connecting" }
  | { state: "ready"; client: Kagzi }
  | { state: "needKey"; message: string }
  | { state: "down"; message: string };

/** The connection, shown by the shell: a key prompt when the server asks for one. */
export const connection = signal<Connection>({ state: "connecting" });

/** Connects to the server that served the page (Connect over fetch), with `key` if given. */
export async function connect(key = sessionStorage.getItem(keyName) ?? ""): Promise<void> {
  connection.value = { state: "connecting" };
  try {
    const client = await Kagzi.connect(location.origin, {
      apiKey: key || undefined,
      connectTimeout: "10s",
    });
    if (key) sessionStorage.setItem(keyName, key);
    connection.value = { state: "ready", client };
  } catch (err) {
    const e = KagziError.from(err);
    if (e.code === "UNAUTHORIZED") {
      sessionStorage.removeItem(keyName);
      connection.value = {
        state: "needKey",
        message: key ? "That API key was not accepted." : "This server requires an API key.",
      };
    } else {
      connection.value = { state: "down", message: e.message };
    }
  }
}

/** Forgets the key and asks for one again. */
export function signOut(): void {
  sessionStorage.removeItem(keyName);
  connection.value = { state: "needKey", message: "Signed out." };
}

/** The namespace every screen shows (`?ns=` in the URL). */
export function namespace(): string {
  return route.value.query.get("ns") || "default";
}

/**
 * Runs `fn` with the client; an UNAUTHORIZED answer (a key revoked meanwhile) brings the key
 * prompt back. Rejects with the KagziError for the caller to show.
 */
export async function withClient<T>(fn: (client: Kagzi) => Promise<T>): Promise<T> {
  const c = connection.value;
  if (c.state !== "ready") throw new KagziError("UNAVAILABLE", "Not connected to the server");
  try {
    return await fn(c.client);
  } catch (err) {
    const e = KagziError.from(err);
    if (e.code === "UNAUTHORIZED") {
      sessionStorage.removeItem(keyName);
      connection.value = { state: "needKey", message: e.message };
    }
    throw e;
  }
}

/** Cancels runs a few at a time; counts what happened to each. */
export async function cancelMany(
  client: Kagzi,
  ns: string,
  ids: AsyncIterable<string> | Iterable<string>,
  onProgress: (done: number) => void,
): Promise<{ cancelled: number; ended: number; failed: string[] }> {
  const out = { cancelled: 0, ended: 0, failed: [] as string[] };
  const inFlight = new Set<Promise<void>>();
  let done = 0;
  for await (const id of ids) {
    const p = (async () => {
      try {
        await client.cancel(id).namespace(ns).reason("cancelled from the dashboard");
        out.cancelled++;
      } catch (err) {
        const e = KagziError.from(err);
        if (e.code === "PRECONDITION_FAILED") out.ended++;
        else out.failed.push(`${id}: ${e.message}`);
      }
      onProgress(++done);
    })();
    inFlight.add(p);
    p.finally(() => inFlight.delete(p));
    if (inFlight.size >= 8) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return out;
}
