/**
 * Starting the server process by hand: `--help`, and the start-up failures a user meets first
 * (a port in use, a lease two heartbeats do not fit in) end with one line naming the cause and
 * exit status 1, never a stack trace; a server that cannot listen lets go of its data directory.
 */
import assert from "node:assert/strict";
import { startServer } from "./_server.ts";

const mainModule = new URL("../server/main.ts", import.meta.url).pathname;

/** Runs `server/main.ts` with `args` to its end (it must end by itself). */
async function runServer(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const res = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-no-legacy-abort", mainModule, "--log-level", "warn", ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: res.code, out: text(res.stdout), err: text(res.stderr) };
}

Deno.test("server/main.ts --help lists every setting with its variable and default", async () => {
  for (const flag of ["--help", "-h"]) {
    const { code, out } = await runServer([flag]);
    assert.equal(code, 0);
    assert.match(out, /^Usage: /);
    assert.match(out, /--max-pending-signals N +KAGZI_MAX_PENDING_SIGNALS +\(default 1000\)/);
    assert.match(out, /--retention DURATION +KAGZI_RETENTION +\(default 7d\)/);
    assert.match(out, /--\[no-\]metrics +KAGZI_METRICS/);
  }
});

Deno.test("a port in use ends the start with one line naming it, and frees the data directory", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "kagzi_start_" });
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { code, err } = await runServer([
      "--data-dir",
      dataDir,
      "--port",
      String(taken.addr.port),
      "--grpc-port",
      "0",
    ]);
    assert.equal(code, 1, err);
    assert.match(err, new RegExp(`kagzi: cannot listen on 127\\.0\\.0\\.1:${taken.addr.port}: `));
    assert.doesNotMatch(err, /Uncaught|at async/);
    // The failed start closed its embedded database: the next one opens the same directory.
    await using server = await startServer({ dataDir });
    assert.ok((await fetch(`${server.url}/healthz`)).ok);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a lease shorter than two heartbeats is refused at start, naming both settings", async () => {
  const { code, err } = await runServer(["--lease-ms", "1000", "--heartbeat-interval-ms", "5000"]);
  assert.equal(code, 1);
  assert.match(
    err,
    /kagzi: Invalid --heartbeat-interval-ms \/ KAGZI_HEARTBEAT_INTERVAL_MS: 5000 ms is more than half of --lease-ms \/ KAGZI_LEASE_MS \(1000 ms\)/,
  );
});
