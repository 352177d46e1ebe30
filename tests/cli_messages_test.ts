/**
 * The `kagzi` command's messages say each thing once and nothing more: a bad duration names its
 * flag and value once; a worker drain that failed prints only the error (nothing on stdout),
 * with the exit code of its error. A real server, the CLI as its own process.
 */
import assert from "node:assert/strict";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { expect, kagzi } from "./_cli.ts";

const backend = (await backends()).at(-1)!; // Postgres when there is one: quicker to start
Deno.test(`kagzi messages say each thing once (${backend})`, async (t) => {
  await using server = await startTestServer(backend);
  const cli = (...args: string[]) => kagzi(args, { KAGZI_ADDRESS: server.url });

  await t.step("a bad duration flag names the flag and the value once", async () => {
    for (
      const [args, flag, value] of [
        [["run", "result", "order-1", "--timeout", "abc"], "timeout", "abc"],
        [["run", "start", "x", "--wait", "--timeout", "5 parsecs"], "timeout", "5 parsecs"],
        [["rate-limit", "set", "openai", "--limit", "1", "--period", "zz"], "period", "zz"],
      ] as const
    ) {
      const r = expect(await cli(...args), 2, args.join(" "));
      const first = r.stderr.split("\n")[0];
      assert.match(first, new RegExp(`^kagzi: Invalid --${flag} "${value}": `), first);
      assert.equal(first.split("Invalid").length, 2, `said once: ${first}`);
      assert.equal(first.split(value).length, 2, `the value once: ${first}`);
    }
  });

  await t.step("worker drain that failed prints only the error", async () => {
    const bad = expect(await cli("worker", "drain", "nope"), 2, "a malformed worker id");
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr, /"worker_id" "nope" is not a UUID/);
    const id = crypto.randomUUID();
    const unknown = expect(await cli("worker", "drain", id), 3, "an unknown worker");
    assert.equal(unknown.stdout, "");
    assert.match(unknown.stderr, /NOT_FOUND/);
  });
});
