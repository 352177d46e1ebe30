/** Browser bundles of SDK entries for tests: `deno bundle --platform=browser`, and a scan of them. */

const root = new URL("../", import.meta.url).pathname;

/** Bundles `entry` (a path from the repository root) for browsers into one ES module file. */
export async function bundleForBrowser(entry: string, out: string, minify = true): Promise<string> {
  const args = ["bundle", "--quiet", "--platform=browser", ...(minify ? ["--minify"] : [])];
  const res = await new Deno.Command(Deno.execPath(), {
    args: [...args, "-o", out, entry],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!res.success) {
    throw new Error(`deno bundle ${entry} failed:\n${new TextDecoder().decode(res.stderr)}`);
  }
  return await Deno.readTextFile(out);
}

/** Module specifiers `node:*` a bundle imports or requires (static, dynamic or CommonJS). */
export function nodeImports(code: string): string[] {
  const found = code.matchAll(/(?:\bfrom|\bimport|\brequire)\s*\(?\s*["'`](node:[\w/]+)["'`]/g);
  return [...new Set([...found].map((m) => m[1]))].sort();
}

/** Uses of the `Deno` global in a bundle (`Deno.x`, `globalThis.Deno`). */
export function denoUses(code: string): string[] {
  return [...new Set([...code.matchAll(/\bDeno\s*\??\.\s*\w+/g)].map((m) => m[0]))].sort();
}

/** Size of `code` gzipped, in bytes. */
export async function gzipSize(code: string): Promise<number> {
  const stream = new Blob([code]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}
