/**
 * The testing kit's database snapshot: PGlite's data directory after initdb, the virtual clock
 * and the migrations, as a tarball. Starting from it skips seconds of initdb. Kept in this
 * process, and in `<cache>/kagzi/` (XDG_CACHE_HOME, else ~/.cache) under a name that hashes
 * what it depends on, when the environment and the file system may be read and written.
 */
import { migrations } from "./store/migrations.gen.ts";
import { installVirtualClock } from "./store/virtual_clock.ts";

let inProcess: Blob | undefined;

/** What the snapshot depends on: PGlite's version, the clock and every migration. */
async function snapshotPath(): Promise<string | undefined> {
  try {
    const home = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`;
    if (!home || home.startsWith("undefined")) return undefined;
    const parts = [
      import.meta.resolve("@electric-sql/pglite"),
      installVirtualClock,
      ...migrations.map((m) => m.sql),
    ];
    const digest = await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(parts.join("\0")),
    );
    const hex = [...new Uint8Array(digest).slice(0, 12)]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    return `${home}/kagzi/testing-db-${hex}.tar`;
  } catch {
    return undefined; // no permission to read the environment: no cache on disk
  }
}

/** The snapshot, when this process or the cache directory has one. */
export async function loadSnapshot(): Promise<Blob | undefined> {
  if (inProcess) return inProcess;
  const path = await snapshotPath();
  if (!path) return undefined;
  try {
    inProcess = new Blob([await Deno.readFile(path)]);
  } catch {
    return undefined;
  }
  return inProcess;
}

/** Keeps the snapshot in this process and, when it can, in the cache directory. */
export async function saveSnapshot(dump: Blob): Promise<void> {
  inProcess = dump;
  const path = await snapshotPath();
  if (!path) return;
  try {
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeFile(tmp, new Uint8Array(await dump.arrayBuffer()));
    await Deno.rename(tmp, path);
  } catch {
    // A read-only or forbidden cache directory: the next process runs initdb again.
  }
}

/** Drops a snapshot that PGlite could not start from. */
export async function forgetSnapshot(): Promise<void> {
  inProcess = undefined;
  const path = await snapshotPath();
  if (path) await Deno.remove(path).catch(() => {});
}
