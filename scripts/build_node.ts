/**
 * Builds `@kagzi/sdk` from this checkout for Node (>= 20) and Bun: `deno task build:node [outdir]`
 * (default `dist/node/`, git-ignored). `deno bundle --platform=node --code-splitting` writes one
 * ES module per entry (`mod.js`, `client.js`, `grpc.js`, `duration.js`, `batcher.js`) and shared
 * chunks, every npm dependency bundled in, plus a `package.json` naming the entries; then
 * `npm install <outdir>` in a project makes `import { Worker } from "@kagzi/sdk"` work there.
 * Native gRPC (`node:http2`) sits in a chunk that only `@kagzi/sdk/grpc`'s first use loads.
 */

const root = new URL("../", import.meta.url);

/** The SDK's entries: package export name, then the source file under `sdk/`. */
const entries: [string, string][] = [
  [".", "mod"],
  ["./client", "client"],
  ["./grpc", "grpc"],
  ["./duration", "duration"],
  ["./batcher", "batcher"],
];

/** Builds the SDK package into `outDir` (emptied first); returns its `package.json` fields. */
export async function buildNode(outDir: string): Promise<{ name: string; version: string }> {
  await Deno.remove(outDir, { recursive: true }).catch(() => {});
  const res = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform=node",
      "--code-splitting",
      "--outdir",
      outDir,
      ...entries.map(([, file]) => new URL(`sdk/${file}.ts`, root).pathname),
    ],
    cwd: root.pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!res.success) {
    throw new Error(`deno bundle of the SDK failed:\n${new TextDecoder().decode(res.stderr)}`);
  }
  const sdk = JSON.parse(await Deno.readTextFile(new URL("sdk/deno.json", root)));
  const pkg = {
    name: sdk.name as string,
    version: sdk.version as string,
    description: "Kagzi durable workflows: client and worker (built from the Deno sources)",
    license: sdk.license,
    type: "module",
    engines: { node: ">=20" },
    exports: Object.fromEntries(entries.map(([name, file]) => [name, `./${file}.js`])),
  };
  await Deno.writeTextFile(`${outDir}/package.json`, JSON.stringify(pkg, null, 2) + "\n");
  return { name: pkg.name, version: pkg.version };
}

if (import.meta.main) {
  const out = Deno.args[0] ?? new URL("dist/node", root).pathname;
  const { name, version } = await buildNode(out);
  console.log(`built ${name}@${version} into ${out}`);
}
