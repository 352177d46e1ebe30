/**
 * Migrated embedded data directories for tests, copied from a template. PGlite's initdb and the
 * migrations cost seconds of CPU per fresh directory; the template is made once (PGlite started
 * on an empty directory and migrated, as a server's first start does, then closed) and kept in
 * `<cache>/kagzi/` (XDG_CACHE_HOME, else ~/.cache) under a name that hashes PGlite's version, the
 * embedded startup (`server/store/embedded.ts`) and every migration, as the testing kit keeps its
 * snapshot. A server started on a copy finds every
 * migration applied and nothing else: no server, worker or secret rows. Tests of initdb itself or
 * of an upgrade make their own empty directories.
 */
import { connectPostgres } from "../server/store/db.ts";
import { startEmbedded } from "../server/store/embedded.ts";
import { migrate } from "../server/store/migrate.ts";
import { migrations } from "../server/store/migrations.gen.ts";

let template: Promise<string> | undefined;

/** `<cache>/kagzi/test-pgdata-<hash>`: what the template depends on, hashed. */
async function templatePath(): Promise<string> {
  const home = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  // How the embedded database is created (initdb's options) is part of what it holds.
  const startup = await Deno.readTextFile(new URL("../server/store/embedded.ts", import.meta.url));
  const parts = [
    import.meta.resolve("@electric-sql/pglite"),
    startup,
    ...migrations.map((m) => m.sql),
  ];
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\0")));
  const hex = [...new Uint8Array(digest).slice(0, 12)]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${home}/kagzi/test-pgdata-${hex}`;
}

/** Builds the template in a directory of its own, then renames it into place (or finds it). */
async function makeTemplate(): Promise<string> {
  const path = await templatePath();
  if (await exists(`${path}/pgdata/PG_VERSION`)) return path;
  const parent = path.slice(0, path.lastIndexOf("/"));
  await Deno.mkdir(parent, { recursive: true });
  const building = await Deno.makeTempDir({ dir: parent, prefix: "test-pgdata-building-" });
  const embedded = await startEmbedded({ dataDir: building });
  const db = connectPostgres(embedded.url, { max: 1, crossProcessNotify: false });
  try {
    await migrate(db);
  } finally {
    await db.close();
    await embedded.close();
  }
  await Deno.remove(`${building}/server.lock`).catch(() => {});
  try {
    await Deno.rename(building, path);
  } catch {
    // Another test process put its template there first: the same content, keep that one.
    await Deno.remove(building, { recursive: true }).catch(() => {});
  }
  return path;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

/** A new temporary data directory holding a migrated embedded database; the caller removes it. */
export async function migratedDataDir(prefix: string): Promise<string> {
  template ??= makeTemplate().catch((err) => {
    template = undefined;
    throw err;
  });
  const from = await template;
  const dir = await Deno.makeTempDir({ prefix });
  await copyTree(`${from}/pgdata`, `${dir}/pgdata`);
  return dir;
}
