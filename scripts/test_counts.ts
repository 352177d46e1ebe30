/**
 * Counts a `deno test --junit-path` report per database backend. A test (or a `t.step` with no
 * steps of its own) belongs to the backend its full name mentions: "embedded" or "postgres";
 * one mentioning both or neither is counted apart. `deno run -A scripts/test_counts.ts FILE`.
 */

/** One leaf test case of the report. */
export interface Case {
  /** Full name: the test's name, then each step's, joined with " > ". */
  name: string;
  status: "passed" | "failed" | "ignored";
}

/** What a run covered. */
export interface Counts {
  passedByBackend: { embedded: number; postgres: number; other: number };
  failed: number;
  ignored: number;
}

const entities: Record<string, string> = {
  "&lt;": "<",
  "&gt;": ">",
  "&quot;": '"',
  "&apos;": "'",
  "&amp;": "&",
};
const unescape = (s: string) => s.replace(/&(lt|gt|quot|apos|amp);/g, (m) => entities[m]);

/** The leaf test cases of a JUnit report (a case whose name prefixes another's is a parent). */
export function readJUnit(xml: string): Case[] {
  const all: Case[] = [];
  const re = /<testcase\s+name="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const body = m[3] ?? "";
    const status = /<(failure|error)\b/.test(body)
      ? "failed"
      : /<skipped\b/.test(body)
      ? "ignored"
      : "passed";
    all.push({ name: unescape(m[1]), status });
  }
  if (all.length === 0 && !/<testsuites\b/.test(xml)) throw new Error("not a JUnit report");
  const parents = new Set<string>();
  for (const c of all) {
    const parts = c.name.split(" > ");
    for (let i = 1; i < parts.length; i++) parents.add(parts.slice(0, i).join(" > "));
  }
  return all.filter((c) => !parents.has(c.name));
}

/** Passed cases per backend named in them, and the failed and ignored totals. */
export function countByBackend(cases: Case[]): Counts {
  const counts: Counts = {
    passedByBackend: { embedded: 0, postgres: 0, other: 0 },
    failed: 0,
    ignored: 0,
  };
  for (const c of cases) {
    if (c.status === "failed") counts.failed++;
    else if (c.status === "ignored") counts.ignored++;
    else {
      const pg = /\bpostgres\b/i.test(c.name);
      const emb = /\bembedded\b/i.test(c.name);
      counts.passedByBackend[pg === emb ? "other" : pg ? "postgres" : "embedded"]++;
    }
  }
  return counts;
}

if (import.meta.main) {
  const [file] = Deno.args;
  if (!file) throw new Error("usage: scripts/test_counts.ts JUNIT_XML");
  console.log(JSON.stringify(countByBackend(readJUnit(await Deno.readTextFile(file)))));
}
