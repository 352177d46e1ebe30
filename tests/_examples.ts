/** Runs one of `examples/` against a test server, as its README says to. */
import assert from "node:assert/strict";

/**
 * Runs `examples/<name>/main.ts` with `KAGZI_ADDR` set to `addr` (and `env`), asserts it exited
 * 0 (its output in the message otherwise) and returns its standard output.
 */
export async function runExample(
  name: string,
  addr: string,
  env: Record<string, string> = {},
): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`../examples/${name}/main.ts`, import.meta.url).pathname],
    env: { KAGZI_ADDR: addr, NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, stdout + new TextDecoder().decode(out.stderr));
  return stdout;
}
