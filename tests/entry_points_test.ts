/**
 * The entry points start without a runtime warning from Deno: `deno run server/main.ts` (what
 * `deno task start` runs), in both modes, and `deno serve server/serve.ts`, each while serving
 * calls that use the request's abort signal (long polls and result waits).
 */
import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import { freshDatabase, postgresIgnored } from "./_db.ts";
import { spawnDeno } from "./_process.ts";
import { freePort } from "./_server.ts";
import { migrate } from "./_deploy.ts";

const ignore = await postgresIgnored();
const server = (file: string) => new URL(`../server/${file}`, import.meta.url).pathname;
const warnings = /warn|did you mean|detected export default|legacy/i;

/** Starts `args`, makes a few calls, stops it with SIGTERM and returns all it printed. */
async function outputWhileServing(
  args: (port: number) => string[],
  env: Record<string, string>,
  marker: string,
): Promise<string> {
  const port = freePort();
  await using proc = await spawnDeno(args(port), env, marker, "server");
  const client = await Kagzi.connect(`http://127.0.0.1:${port}`);
  const run = await client.start("nobody-runs-this");
  await assert.rejects(run.result({ timeout: "1200ms" }), /did not end/);
  assert.equal((await client.get(run.id)).status, "PENDING");
  proc.kill("SIGTERM");
  const status = await proc.status;
  assert.equal(status.code, 0, proc.output());
  return proc.output();
}

Deno.test({
  name:
    "deno run server/main.ts and deno serve server/serve.ts print no runtime warning (postgres)",
  ignore,
  async fn(t) {
    await using db = await freshDatabase();
    const env = { DATABASE_URL: db.url, KAGZI_LOG_LEVEL: "info" };

    await t.step("deno run server/main.ts (deno task start)", async () => {
      const out = await outputWhileServing(
        (port) => ["run", "-A", server("main.ts"), "--port", String(port), "--grpc-port", "0"],
        env,
        " ready: ",
      );
      assert.doesNotMatch(out, warnings, out);
    });

    await t.step("deno run server/main.ts with DENO_DEPLOY=true", async () => {
      await migrate(db.url);
      const out = await outputWhileServing(
        (port) => ["run", "-A", server("main.ts"), "--host", "127.0.0.1", "--port", String(port)],
        { ...env, DENO_DEPLOY: "true" },
        " ready: ",
      );
      assert.doesNotMatch(out, warnings, out);
    });

    await t.step("deno serve server/serve.ts", async () => {
      const out = await outputWhileServing(
        (
          port,
        ) => ["serve", "-A", "--host", "127.0.0.1", "--port", String(port), server("serve.ts")],
        env,
        "Listening on",
      );
      assert.doesNotMatch(out, warnings, out);
    });
  },
});
