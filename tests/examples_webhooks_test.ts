/** `examples/webhooks` runs to completion against a real server: one event, two runs, twice delivered. */
import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";
import { runExample } from "./_examples.ts";

Deno.test("examples/webhooks: a signed delivery, delivered twice, starts each subscribed type once (embedded)", async () => {
  await using server = await startTestServer("embedded");
  const stdout = await runExample("webhooks", server.url);
  assert.match(stdout, /^delivery 1: 202 .*"eventId":"delivery-pay_1".*"alreadyExists":false/m);
  assert.match(stdout, /^delivery 2: 202 .*"alreadyExists":true/m);
  assert.match(stdout, /^send-receipt: receipt for pay_1 sent to ana@example\.com$/m);
  assert.match(stdout, /^update-ledger: booked 1299 for pay_1$/m);
});
