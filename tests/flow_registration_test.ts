/**
 * Flow control declared with a workflow's definition is sent at Register, stored per (namespace,
 * type, version) and read back with client.flowControl(); the newest registration wins; bad
 * declarations are refused by the SDK and, sent raw, by the server (naming the field).
 */
import assert from "node:assert/strict";
import { defineWorkflow, Kagzi, type KagziError, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

const noop = () => Promise.resolve(null);

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: KagziError) => {
    assert.equal(e.code, "INVALID_ARGUMENT");
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("defineWorkflow refuses bad flow control, naming the option", () => {
  const def = (o: Parameters<typeof defineWorkflow>[2]) => () => defineWorkflow("t", noop, o);
  refused(def({ concurrency: [{ limit: 0 }] }), /concurrency\[0\]\.limit 0/);
  refused(def({ concurrency: { key: "input.a", limit: -1 } }), /concurrency\[0\]\.limit -1/);
  refused(def({ concurrency: [{ limit: 1.5 }] }), /limit 1\.5/);
  refused(def({ concurrency: [{ key: "customerId", limit: 1 }] }), /"customerId" is not a key/);
  refused(def({ concurrency: [{ key: "input.a..b", limit: 1 }] }), /not a key path/);
  refused(def({ concurrency: [{ limit: 1 }, { limit: 2 }] }), /repeats ""/);
  refused(def({ rateLimit: { limit: 5, period: "0s" } }), /rateLimit\.period "0s" must be more/);
  refused(def({ rateLimit: { limit: 5, period: "soon" } }), /rateLimit\.period/);
  refused(def({ debounce: { period: "0s" } }), /debounce\.period/);
  refused(def({ debounce: { period: "10s", maxWait: "5s" } }), /maxWait must not be shorter/);
  refused(def({ priority: 2.5 }), /priority 2\.5/);
  // Good paths: nested, array indexes, the whole input.
  defineWorkflow("t", noop, {
    concurrency: [{ key: "input.a.b", limit: 1 }, { key: "input.items[0].id", limit: 2 }],
    debounce: { key: "input", period: "1s" },
  });
});

for (const backend of await backends()) {
  Deno.test(`flow control is stored at Register and read back on ${backend}`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);

    await t.step(
      "defineWorkflow's options, and .workflow(type, fn, opts) per version",
      async () => {
        const sync = defineWorkflow("sync-customer", noop, {
          concurrency: [{ key: "input.customerId", limit: 1 }, { limit: 20 }],
          rateLimit: { key: "input.tenant", limit: 100, period: "1m" },
          debounce: { key: "input.customerId", period: "10s", maxWait: "1m" },
          priority: 3,
        });
        const w = await Worker.builder(server.url)
          .workflow(sync)
          .workflow("sync-customer", noop, { version: "v2", concurrency: { limit: 7 } })
          .build();
        try {
          const fc = await client.flowControl(sync);
          assert.equal(fc.type, "sync-customer");
          const byVersion = Object.fromEntries(fc.registrations.map((r) => [r.version, r]));
          const { workerId: _w, updatedAt, ...v1 } = byVersion[""];
          assert.ok(updatedAt instanceof Date);
          assert.deepEqual(v1, {
            version: "",
            concurrency: [{ key: "input.customerId", limit: 1 }, { limit: 20 }],
            rateLimit: { key: "input.tenant", limit: 100, period: "1m" },
            debounce: { key: "input.customerId", period: "10s", maxWait: "1m" },
            priority: 3,
          });
          assert.deepEqual(byVersion.v2.concurrency, [{ limit: 7 }]);
          assert.equal(byVersion.v2.rateLimit, undefined);
          assert.equal(byVersion[""].workerId, w.id);
        } finally {
          await w.shutdown();
        }
      },
    );

    await t.step("the newest registration wins", async () => {
      const a = await Worker.builder(server.url)
        .workflow("contested", noop, { concurrency: { limit: 2 } }).build();
      const b = await Worker.builder(server.url)
        .workflow("contested", noop, { concurrency: { limit: 5 } }).build();
      try {
        const fc = await client.flowControl("contested");
        assert.equal(fc.registrations.length, 1);
        assert.deepEqual(fc.registrations[0].concurrency, [{ limit: 5 }]);
        assert.equal(fc.registrations[0].workerId, b.id);
      } finally {
        await a.shutdown();
        await b.shutdown();
      }
      const plain = await Worker.builder(server.url).workflow("contested", noop).build();
      await plain.shutdown();
      assert.deepEqual((await client.flowControl("contested")).registrations, []);
    });

    await t.step("the server refuses bad flow control sent raw, naming the field", async () => {
      const register = (flowControl: unknown) =>
        fetch(`${server.url}/kagzi.v1.WorkerService/Register`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ workflowTypes: [{ workflowType: "raw", flowControl }] }),
        }).then(async (r) => ({ status: r.status, body: await r.json() }));
      const cases: [unknown, RegExp][] = [
        [
          { concurrency: [{ limit: 0 }] },
          /workflow_types\[0\]\.flow_control\.concurrency\[0\]\.limit/,
        ],
        [
          { concurrency: [{ key: "nope", limit: 1 }] },
          /concurrency\[0\]\.key" "nope" is not a key/,
        ],
        [{ rateLimit: { limit: 1, period: "0s" } }, /rate_limit\.period" must be more than zero/],
        [{ rateLimit: { limit: 1 } }, /rate_limit\.period" must be more than zero/],
        [{ debounce: { period: "0s" } }, /debounce\.period" must be more than zero/],
        [{ priority: 5_000_000 }, /priority" must be a whole number/],
      ];
      for (const [fc, pattern] of cases) {
        const res = await register(fc);
        assert.equal(res.status, 400, JSON.stringify(fc));
        assert.equal(res.body.code, "invalid_argument");
        assert.match(res.body.message, pattern);
      }
      assert.deepEqual((await client.flowControl("raw")).registrations, [], "nothing stored");
    });
  });
}
