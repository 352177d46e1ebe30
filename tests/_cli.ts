/** Runs the `kagzi` command as its own process, for the CLI tests. */
import assert from "node:assert/strict";

/** The CLI's entry module. */
export const cliMain = new URL("../cli/main.ts", import.meta.url).pathname;

/** What one `kagzi` invocation did. */
export interface Result {
  code: number;
  stdout: string;
  stderr: string;
  // deno-lint-ignore no-explicit-any
  json: () => any;
}

/** Runs `kagzi <args>` as its own process; stdout is a pipe, so JSON is the default format. */
export async function kagzi(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", cliMain, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  return {
    code: out.code,
    stdout,
    stderr,
    json: () => {
      try {
        return JSON.parse(stdout);
      } catch {
        throw new Error(`kagzi ${args.join(" ")} printed no JSON:\n${stdout}\n${stderr}`);
      }
    },
  };
}

/** Asserts the exit code of `r` (showing its output when it differs) and returns it. */
export function expect(r: Result, code: number, what: string): Result {
  assert.equal(r.code, code, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}
