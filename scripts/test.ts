/**
 * `deno task test`: says which database backends this run covers (embedded always; Postgres when
 * one answers, or when KAGZI_TEST_BACKENDS asks for it, and then it must answer), runs
 * `deno test -A --parallel` on the given paths (default: tests/ sdk/ server/ cli/ examples/ bench/) with a JUnit
 * report, and ends with the number of tests run per backend. Exits with deno test's code.
 *
 *   deno task test                       # the whole suite
 *   deno task test tests/crash_test.ts   # some files
 */
import { postgresAvailable } from "../tests/_db.ts";
import { countByBackend, type Counts, readJUnit } from "./test_counts.ts";

const adminUrl = Deno.env.get("KAGZI_TEST_POSTGRES_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";
const forced = Deno.env.get("KAGZI_TEST_BACKENDS");

/** One line naming the backends of this run, loud when Postgres is skipped. */
async function backendsLine(): Promise<{ line: string; ok: boolean }> {
  const where = adminUrl.replace(/:[^:@/]*@/, ":***@");
  const up = await postgresAvailable();
  if (forced) {
    const wantsPg = forced.split(",").some((b) => b.trim() === "postgres");
    if (wantsPg && !up) {
      return {
        line: `KAGZI_TEST_BACKENDS=${forced} but no Postgres answers at ${where}: failing`,
        ok: false,
      };
    }
    return { line: `backends: ${forced} (KAGZI_TEST_BACKENDS)`, ok: true };
  }
  if (up) return { line: `backends: embedded and postgres (${where})`, ok: true };
  return {
    line: `backends: embedded only. POSTGRES TESTS SKIPPED: no Postgres answers at ${where} ` +
      "(start one, or set KAGZI_TEST_POSTGRES_URL; .ci/with_postgres.sh starts a private one)",
    ok: true,
  };
}

const paths = Deno.args.length > 0
  ? Deno.args
  : ["tests/", "sdk/", "server/", "cli/", "examples/", "bench/"];
const { line, ok } = await backendsLine();
console.log(`== ${line}`);
if (!ok) Deno.exit(1);

const junit = await Deno.makeTempFile({ prefix: "kagzi_junit_", suffix: ".xml" });
const started = performance.now();
const { code } = await new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--parallel", `--junit-path=${junit}`, ...paths],
  stdin: "null",
}).spawn().status;
const minutes = (performance.now() - started) / 60_000;

let counts: Counts | undefined;
try {
  counts = countByBackend(readJUnit(await Deno.readTextFile(junit)));
} catch (e) {
  console.error(`no test counts: ${e instanceof Error ? e.message : e}`);
} finally {
  await Deno.remove(junit).catch(() => {});
}
if (counts) {
  const b = counts.passedByBackend;
  console.log(
    `== tests passed per backend: embedded ${b.embedded}, postgres ${b.postgres}, ` +
      `both or none ${b.other}; failed ${counts.failed}, ignored ${counts.ignored}; ` +
      `${minutes.toFixed(1)} min`,
  );
}
console.log(`== ${line}`);
Deno.exit(code);
