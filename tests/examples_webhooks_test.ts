/** `examples/webhooks` runs to completion against a real server: one event, two runs, twice delivered. */
import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";

Deno.test("examples/webhooks: a signed delivery, delivered twice, starts each subscribed type once (embedded)", async () => {
  await using server = await startTestServer("embedded");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../examples/webhooks/main.ts", import.meta.url).pathname],
    env: { KAGZI_ADDR: server.url, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, stdout + new TextDecoder().decode(out.stderr));
  assert.match(stdout, /^delivery 1: 202 .*"eventId":"delivery-pay_1".*"alreadyExists":false/m);
  assert.match(stdout, /^delivery 2: 202 .*"alreadyExists":true/m);
  assert.match(stdout, /^send-receipt: receipt for pay_1 sent to ana@example\.com$/m);
  assert.match(stdout, /^update-ledger: booked 1299 for pay_1$/m);
});
