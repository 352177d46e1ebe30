import assert from "node:assert/strict";
import type { Row } from "./common.ts";
import { peerRatioFigures, peerRatios, type Peers, roundRatios } from "./peers.ts";

const row = (workload: string, figures: Partial<Row>): Row => ({
  backend: "postgres",
  setup: workload.includes("in-process") ? "in-process" : "three-process",
  workload,
  workflows: 200,
  seconds: 1,
  rpcsPerWorkflow: 6,
  ...figures,
});

const kagzi = (w2: number, w2in: number): Row[] => [
  row("W1 results awaited", { workflowsPerSec: 900 }),
  row("W1 results awaited (in-process)", { workflowsPerSec: 1200 }),
  row("W2 latency", { p50: w2 }),
  row("W2 latency (in-process)", { p50: w2in }),
  // Another backend's figures are not compared.
  { ...row("W2 latency", { p50: 1 }), backend: "embedded" },
];

const peers = (restateP50: number, dbosP50: number): Peers => ({
  file: "results.jsonl",
  sameRun: true,
  results: [
    {
      peer: "restate",
      variant: "default",
      round: 1,
      w1: { wfPerSec: 300 },
      w2: { p50: restateP50, p95: 20, p99: 30 },
    },
    {
      peer: "dbos",
      variant: "inproc",
      round: 1,
      w1: { wfPerSec: 200 },
      w2: { p50: dbosP50, p95: 13, p99: 22 },
    },
    { peer: "absurd", variant: "default", round: 1, error: "did not start" },
  ],
});

Deno.test("peer ratios: W1 over the best peer's, W2 over the fastest peer's and DBOS in-process", () => {
  const figures = peerRatioFigures(kagzi(12, 6), peers(10, 8));
  assert.deepEqual(
    figures.map((f) => [f.what, f.ratio, f.peerName, f.met]),
    [
      ["W1 results awaited", 3, "restate default", true],
      ["W1 results awaited (in-process)", 4, "restate default", true],
      ["W2 p50 three-process", 1.5, "dbos inproc", false],
      ["W2 p50 in-process", 0.75, "dbos inproc", true],
    ],
  );
  const lines = peerRatios(kagzi(12, 6), peers(10, 8));
  assert.match(lines[0], /run just before/);
  assert.match(lines[4], /^W2 p50 in-process: 6 ms = 0\.75× DBOS in-process .*target ≤ 0\.8×/);
  assert.deepEqual(peerRatioFigures(kagzi(12, 6), { ...peers(1, 1), results: [] }), []);
});

Deno.test("round ratios: each round's ratio against its own peers, and their median", () => {
  const rounds = [
    peerRatioFigures(kagzi(12, 6), peers(10, 8)), // in-process 0.75
    peerRatioFigures(kagzi(9, 7), peers(12, 7)), // in-process 1
    peerRatioFigures(kagzi(10, 4), peers(11, 5)), // in-process 0.8
  ];
  const lines = roundRatios(rounds);
  const inProcess = lines.find((l) => l.startsWith("W2 p50 in-process"))!;
  assert.match(inProcess, /by round: 0\.75× \(6 vs dbos inproc 8 ms\), 1× .*, 0\.8× /);
  assert.match(inProcess, /median 0\.8× \(target ≤ 0\.8×: met\)/);
  const three = lines.find((l) => l.startsWith("W2 p50 three-process"))!;
  // 12/8, 9/7, 10/5: the fastest peer of each round is DBOS in-process.
  assert.match(three, /median 1\.5× \(target ≤ 1×: not met\)/);
  // An even count: the mean of the middle two.
  const two = roundRatios(rounds.slice(0, 2));
  assert.match(two.find((l) => l.startsWith("W2 p50 in-process"))!, /median 0\.88×/);
});
