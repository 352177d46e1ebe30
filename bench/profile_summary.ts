/** Prints the functions with the most self time in V8 .cpuprofile files: `deno run -A bench/profile_summary.ts <files>`. */
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
for (const file of Deno.args) {
  const prof = JSON.parse(Deno.readTextFileSync(file)) as { nodes: Node[]; samples: number[] };
  const total = prof.samples.length;
  const self = new Map<string, number>();
  for (const n of prof.nodes) {
    const url = n.callFrame.url.replace(/^.*\/(npm|registry\.npmjs\.org)\//, "npm:").replace(
      /^file:\/\/\/work\/main\//,
      "",
    );
    const key = `${n.callFrame.functionName || "(anonymous)"} ${url}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (n.hitCount ?? 0));
  }
  console.log(`== ${file} (${total} samples)`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
  }
}
