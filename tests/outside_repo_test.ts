/**
 * The README's setup for using a checkout from another folder: `deno link <checkout>/sdk` lets a
 * program anywhere import the SDK (by path or by name), and `deno install --config` installs the
 * `kagzi` command. Both run in a temporary folder outside the repository, against a real server.
 */
import assert from "node:assert/strict";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";
const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

async function deno(args: string[], cwd: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

const program = `
import { type Context, Worker } from "${repo}/sdk/mod.ts";
import { Kagzi } from "@kagzi/sdk/client";

const addr = Deno.env.get("KAGZI_ADDR")!;
async function greet(ctx: Context, input: { name: string }) {
  const text = await ctx.step("compose").run(() => "hello " + input.name);
  return { text };
}
const worker = await Worker.builder(addr).workflows({ greet }).build();
const client = await Kagzi.connect(addr);
const run = await client.start("greet").input({ name: "outside" });
run.result().then((out) => {
  console.log("result", JSON.stringify(out));
  return worker.shutdown();
});
await worker.run();
`;

Deno.test(`a program outside the repository uses the SDK after one 'deno link' (${backend})`, async () => {
  await using server = await startTestServer(backend);
  const dir = await Deno.makeTempDir({ prefix: "kagzi_outside_" });
  try {
    await Deno.writeTextFile(`${dir}/main.ts`, program);
    const before = await deno(["run", "-A", "main.ts"], dir, { KAGZI_ADDR: server.url });
    assert.notEqual(before.code, 0, "without the setup step the import map is missing");
    assert.match(before.text, /not a dependency/);

    const link = await deno(["link", `${repo}/sdk`], dir);
    assert.equal(link.code, 0, link.text);
    const after = await deno(["run", "-A", "main.ts"], dir, { KAGZI_ADDR: server.url });
    assert.equal(after.code, 0, after.text);
    assert.match(after.text, /result {"text":"hello outside"}/);
    const check = await deno(["check", "main.ts"], dir);
    assert.equal(check.code, 0, check.text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(`the README's 'deno install' of the kagzi command works from any folder (${backend})`, async () => {
  await using server = await startTestServer(backend);
  const root = await Deno.makeTempDir({ prefix: "kagzi_install_" });
  try {
    const flags = ["-g", "-f", "--root", root, "--allow-net", "--allow-env", "--allow-read"];
    const bare = await deno(["install", ...flags, "-n", "kagzi", `${repo}/cli/main.ts`], repo);
    assert.notEqual(bare.code, 0, "without --config the workspace's import map is not installed");
    const install = await deno(
      ["install", ...flags, "--config", `${repo}/deno.json`, "-n", "kagzi", `${repo}/cli/main.ts`],
      repo,
    );
    assert.equal(install.code, 0, install.text);
    const out = await new Deno.Command(`${root}/bin/kagzi`, {
      args: ["server", "health", "--address", server.url, "-o", "json"],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /"healthy": true/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
