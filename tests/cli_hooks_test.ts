/** `kagzi hook create/list/delete` and `kagzi event emit/list` against a real server process. */
import assert from "node:assert/strict";
import { kagzi } from "./_cli.ts";
import { startTestServer } from "./_server.ts";

Deno.test("kagzi hook and event commands create, list, emit and delete (embedded)", async () => {
  await using server = await startTestServer("embedded");
  const env = { KAGZI_ADDRESS: server.url };
  const secretFile = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(secretFile, "whsec_from_a_file_0123\n");
    const created = await kagzi(
      ["hook", "create", "gh", "--workflow", "deploy", "--secret-file", secretFile],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.json().path, "/v1/hooks/default/gh");
    const listed = await kagzi(["hook", "list"], env);
    assert.deepEqual(listed.json().map((h: { name: string }) => h.name), ["gh"]);
    assert.ok(!listed.stdout.includes("whsec_from_a_file"), "the secret is never printed");
    const missing = await kagzi(["hook", "create", "x", "--workflow", "deploy"], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--secret/);

    const emitted = await kagzi(
      ["event", "emit", "order.created", "--data", '{"orderId":"o-1"}', "--id", "e-1"],
      env,
    );
    assert.equal(emitted.code, 0, emitted.stderr);
    assert.deepEqual(emitted.json().data, { orderId: "o-1" });
    assert.equal(emitted.json().alreadyExists, false);
    const again = await kagzi(["event", "emit", "order.created", "--id", "e-1"], env);
    assert.equal(again.json().alreadyExists, true);
    const events = await kagzi(["event", "list", "--name", "order.created"], env);
    assert.deepEqual(events.json().map((e: { id: string }) => e.id), ["e-1"]);

    assert.equal((await kagzi(["hook", "delete", "gh"], env)).code, 0);
    assert.deepEqual((await kagzi(["hook", "list"], env)).json(), []);
    assert.equal((await kagzi(["hook", "delete", "gh"], env)).code, 3);
  } finally {
    await Deno.remove(secretFile);
  }
});
