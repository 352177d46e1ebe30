/**
 * The test servers' port picking: a server that could not start because a port it picked was
 * taken meanwhile is started again, whichever listener reported it (Deno's Connect listener, or
 * the gRPC listener's Node process, whose error CI once failed a test on).
 */
import assert from "node:assert/strict";
import { onFreePorts } from "./_server.ts";

const taken = {
  deno: "server did not start:\nAddrInUse: Address already in use (os error 98)",
  node: "server did not start:\ncannot listen for gRPC on 127.0.0.1:37141: listen EADDRINUSE: " +
    "address already in use 127.0.0.1:37141",
};

for (const [who, message] of Object.entries(taken)) {
  Deno.test(`a port taken before the ${who} listener bound it: started again`, async () => {
    let tries = 0;
    const out = await onFreePorts(true, () => {
      tries++;
      return tries === 1 ? Promise.reject(new Error(message)) : Promise.resolve("up");
    });
    assert.equal(out, "up");
    assert.equal(tries, 2);
  });
}

Deno.test("other start failures, and ports the caller named, are not tried again", async () => {
  let tries = 0;
  const fail = () => {
    tries++;
    return Promise.reject(new Error("server did not start:\nbad flag"));
  };
  await assert.rejects(onFreePorts(true, fail), /bad flag/);
  assert.equal(tries, 1);
  await assert.rejects(onFreePorts(false, () => Promise.reject(new Error(taken.node))));
});
