/**
 * Other JavaScript runtimes for tests: the machine's `node`, Bun and workerd from npm (pinned,
 * installed once into a cache outside the repository: `KAGZI_RUNTIMES_CACHE`, else
 * `~/.cache/kagzi-runtimes`), and a project directory with the SDK built for Node in its
 * `node_modules`. Where a runtime cannot be had, CI (`CI=true` or `KAGZI_TEST_BACKENDS` set)
 * fails; a dev machine skips with one message saying why.
 */
import { buildNode } from "../scripts/build_node.ts";

/** Bun from npm (`@oven/bun-linux-<arch>` ships the binary). */
export const BUN_VERSION = "1.4.5";
/** workerd, the Cloudflare Workers runtime, from npm. */
export const WORKERD_VERSION = "1.20261117.1";

const arch = Deno.build.arch === "aarch64" ? "aarch64" : "x64";

/** Whether a runtime that cannot be had fails the test (CI) rather than skipping it. */
export function runtimesRequired(): boolean {
  return Deno.env.get("CI") === "true" || !!Deno.env.get("KAGZI_TEST_BACKENDS");
}

function cacheDir(): string {
  const home = Deno.env.get("HOME") ?? "/tmp";
  return Deno.env.get("KAGZI_RUNTIMES_CACHE") ?? `${home}/.cache/kagzi-runtimes`;
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const res = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const out = new TextDecoder().decode(res.stdout) + new TextDecoder().decode(res.stderr);
  if (!res.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${out}`);
  return out;
}

/**
 * `npm install <spec>` into its own cache directory (once; a rerun reuses it) and returns the
 * path of `bin` inside it. Installs go to a fresh directory renamed into place, so parallel test
 * files never see half an install.
 */
async function npmInstall(spec: string, bin: string): Promise<string> {
  const dir = `${cacheDir()}/${spec.replace(/^@/, "").replaceAll("/", "+")}`;
  if (await exists(`${dir}/${bin}`)) return `${dir}/${bin}`;
  await Deno.mkdir(cacheDir(), { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: cacheDir(), prefix: ".install-" });
  try {
    // Scripts off: the binaries come in the platform packages, no postinstall needed.
    await run("npm", [
      "install",
      "--prefix",
      tmp,
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      "--loglevel=error",
      spec,
    ]);
    if (!(await exists(`${tmp}/${bin}`))) throw new Error(`npm install ${spec} gave no ${bin}`);
    await Deno.rename(tmp, dir).catch(async (err) => {
      if (!(await exists(`${dir}/${bin}`))) throw err; // else another test installed it first
    });
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return `${dir}/${bin}`;
}

/** The Bun binary, installed from npm on first use. */
export function bunPath(): Promise<string> {
  const pkg = `@oven/bun-linux-${arch}`;
  return npmInstall(`${pkg}@${BUN_VERSION}`, `node_modules/${pkg}/bin/bun`);
}

/** The workerd binary, installed from npm on first use. */
export function workerdPath(): Promise<string> {
  const pkg = `@cloudflare/workerd-linux-${arch === "x64" ? "64" : "arm64"}`;
  return npmInstall(`workerd@${WORKERD_VERSION}`, `node_modules/${pkg}/bin/workerd`);
}

/** The machine's `node` if it is version 20 or later. */
export async function nodePath(): Promise<string> {
  const version = (await run("node", ["--version"])).trim();
  if (Number(version.replace(/^v/, "").split(".")[0]) < 20) {
    throw new Error(`node ${version} is too old: Kagzi needs Node 20 or later`);
  }
  return "node";
}

/**
 * Resolves `get()`; where it throws, fails under CI and otherwise returns undefined after
 * printing one line saying what is skipped and why.
 */
export async function runtimeOrSkip(
  what: string,
  get: () => Promise<string>,
): Promise<string | undefined> {
  try {
    return await get();
  } catch (err) {
    if (runtimesRequired()) throw err;
    const why = String((err as Error).message ?? err).split("\n").slice(0, 3).join(" ");
    console.log(`SKIPPED ${what} tests: ${why} (CI=true makes this a failure)`);
    return undefined;
  }
}

/** A temporary Node project: `node_modules/@kagzi/sdk` built from this checkout, and `files`. */
export interface NodeProject extends AsyncDisposable {
  dir: string;
}

/** Builds the SDK into a fresh project directory and copies `files` (repo paths) into it. */
export async function nodeProject(files: string[]): Promise<NodeProject> {
  const dir = await Deno.makeTempDir({ prefix: "kagzi_runtimes_" });
  try {
    await buildNode(`${dir}/node_modules/@kagzi/sdk`);
    for (const f of files) {
      const src = new URL(`../${f}`, import.meta.url);
      await Deno.copyFile(src, `${dir}/${f.split("/").pop()}`);
    }
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
  return {
    dir,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
