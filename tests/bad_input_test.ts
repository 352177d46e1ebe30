import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { StartWorkflowRequestSchema } from "@kagzi/proto";
import { Kagzi } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

interface Case {
  name: string;
  path: string;
  body: string | Uint8Array<ArrayBuffer>;
  contentType?: string;
  /** Expected HTTP status and Connect code. */
  status: number;
  code: string;
  /** The field the message must name. */
  field: string;
}

function binaryWithInvalidUtf8(): Uint8Array<ArrayBuffer> {
  const bin: Uint8Array<ArrayBuffer> = toBinary(
    StartWorkflowRequestSchema,
    create(StartWorkflowRequestSchema, {
      workflowType: "t",
      input: { data: new Uint8Array([1]), metadata: { k: "\x01MARK" } },
    }),
  );
  const at = bin.findIndex((_, i) => bin[i] === 1 && bin[i + 1] === 77 && bin[i + 2] === 65);
  bin.set([0xff, 0xfe, 0xfd, 0xfc, 0xfb], at);
  return bin;
}

const start = "/kagzi.v1.WorkflowService/StartWorkflow";
const list = "/kagzi.v1.WorkflowService/ListWorkflows";
const get = "/kagzi.v1.WorkflowService/GetWorkflow";
const cancel = "/kagzi.v1.WorkflowService/CancelWorkflow";
const json = (v: unknown) => JSON.stringify(v);
const invalid = { status: 400, code: "invalid_argument" };

const cases: Case[] = [
  {
    // What a Python grpcio client sent: bytes that are not UTF-8, labelled JSON.
    name: "input labelled JSON that is not UTF-8 JSON",
    path: start,
    body: json({
      workflowType: "t",
      input: { data: btoa("\xff{"), metadata: { encoding: "json" } },
    }),
    ...invalid,
    field: "input.data",
  },
  {
    name: "context labelled JSON that does not parse",
    path: start,
    body: json({
      workflowType: "t",
      context: { data: btoa('{"a": 1'), metadata: { encoding: "json" } },
    }),
    ...invalid,
    field: "context.data",
  },
  {
    name: "empty workflow type",
    path: start,
    body: json({ workflowType: "" }),
    ...invalid,
    field: "workflow_type",
  },
  {
    name: "1 MB+ workflow id",
    path: start,
    body: json({ workflowType: "t", workflowId: "x".repeat(1_100_000) }),
    ...invalid,
    field: "workflow_id",
  },
  {
    name: "invalid UTF-8 in payload metadata",
    path: start,
    body: binaryWithInvalidUtf8(),
    contentType: "application/proto",
    ...invalid,
    field: "input.metadata",
  },
  {
    name: "malformed page token",
    path: list,
    body: json({ page: { pageToken: "%%%" } }),
    ...invalid,
    field: "page.page_token",
  },
  {
    name: "forged page token",
    path: list,
    body: json({ page: { pageToken: btoa("s-1") } }),
    ...invalid,
    field: "page.page_token",
  },
  {
    name: "negative page size",
    path: list,
    body: json({ page: { pageSize: -1 } }),
    ...invalid,
    field: "page.page_size",
  },
  {
    name: "huge page size",
    path: list,
    body: json({ page: { pageSize: 100000 } }),
    ...invalid,
    field: "page.page_size",
  },
  {
    name: "unknown status enum",
    path: list,
    body: json({ status: 99 }),
    ...invalid,
    field: "status",
  },
  {
    name: "garbage body",
    path: start,
    body: new Uint8Array([9, 9, 9, 255, 255, 1]),
    contentType: "application/proto",
    ...invalid,
    field: "body",
  },
  {
    name: "wrong content type",
    path: start,
    body: "hello",
    contentType: "text/plain",
    status: 415,
    code: "invalid_argument",
    field: "content-type",
  },
  {
    name: "bad namespace",
    path: start,
    body: json({ namespace: "no spaces!", workflowType: "t" }),
    ...invalid,
    field: "namespace",
  },
  {
    name: "run id not a UUID",
    path: get,
    body: json({ runId: "42" }),
    ...invalid,
    field: "run_id",
  },
  {
    name: "empty run id on cancel",
    path: cancel,
    body: json({ runId: "" }),
    ...invalid,
    field: "run_id",
  },
  {
    name: "deadline in the past",
    path: start,
    body: json({ workflowType: "t", deadlineAt: "2001-01-01T00:00:00Z" }),
    ...invalid,
    field: "deadline_at",
  },
  {
    name: "backoff coefficient below 1",
    path: start,
    body: json({ workflowType: "t", retryPolicy: { backoffCoefficient: 0.5 } }),
    ...invalid,
    field: "retry_policy.backoff_coefficient",
  },
  {
    name: "negative maximum attempts",
    path: start,
    body: json({ workflowType: "t", retryPolicy: { maximumAttempts: -2 } }),
    ...invalid,
    field: "retry_policy.maximum_attempts",
  },
  {
    name: "control characters in workflow type",
    path: start,
    body: json({ workflowType: "a\u0000b" }),
    ...invalid,
    field: "workflow_type",
  },
  {
    name: "payload over 4 MiB",
    path: start,
    body: json({ workflowType: "t", input: { data: btoa("x".repeat(4 * 1024 * 1024 + 3)) } }),
    ...invalid,
    field: "input.data",
  },
  {
    name: "negative wait_for_terminal",
    path: get,
    body: json({ runId: crypto.randomUUID(), waitForTerminal: "-5s" }),
    ...invalid,
    field: "wait_for_terminal",
  },
  { name: "malformed JSON", path: start, body: "{nope", ...invalid, field: "JSON" },
  {
    name: "page token beyond int64",
    path: list,
    body: json({ page: { pageToken: token("c99999999999999999999") } }),
    ...invalid,
    field: "page.page_token",
  },
  {
    name: "step page token beyond 2^53",
    path: "/kagzi.v1.AdminService/ListSteps",
    body: json({ runId: crypto.randomUUID(), page: { pageToken: token("c9223372036854775807") } }),
    ...invalid,
    field: "page.page_token",
  },
  {
    name: "page token holding a NUL",
    path: "/kagzi.v1.WorkflowScheduleService/ListWorkflowSchedules",
    body: json({ page: { pageToken: token("ca\u0000b") } }),
    ...invalid,
    field: "page.page_token",
  },
  {
    name: "unknown status enum name",
    path: list,
    body: json({ status: "WORKFLOW_STATUS_BOGUS" }),
    ...invalid,
    field: "status",
  },
  {
    name: "negative heartbeat delta",
    path: "/kagzi.v1.WorkerService/Heartbeat",
    body: json({ workerId: crypto.randomUUID(), completedDelta: "-5" }),
    ...invalid,
    field: "completed_delta",
  },
  {
    name: "heartbeat delta near int64",
    path: "/kagzi.v1.WorkerService/Heartbeat",
    body: json({ workerId: crypto.randomUUID(), failedDelta: "9223372036854775807" }),
    ...invalid,
    field: "failed_delta",
  },
  {
    name: "NUL in a cancel reason",
    path: cancel,
    body: json({ runId: crypto.randomUUID(), reason: "stop\u0000now" }),
    ...invalid,
    field: "reason",
  },
  {
    name: "NUL in a worker label",
    path: "/kagzi.v1.WorkerService/Register",
    body: json({ workflowTypes: [{ workflowType: "t" }], labels: { zone: "a\u0000" } }),
    ...invalid,
    field: "labels",
  },
];

function token(key: string): string {
  return btoa(key).replace(/=+$/, "");
}

for (const backend of await backends()) {
  Deno.test(`bad input gets INVALID_ARGUMENT naming the field, and the server stays healthy (${backend})`, async (t) => {
    await using server = await startTestServer(backend);
    for (const c of cases) {
      await t.step(c.name, async () => {
        const res = await fetch(server.url + c.path, {
          method: "POST",
          headers: { "content-type": c.contentType ?? "application/json" },
          body: c.body,
        });
        const body = await res.json();
        assert.equal(res.status, c.status, JSON.stringify(body));
        assert.equal(body.code, c.code);
        assert.ok(body.message.includes(c.field), `message names ${c.field}: ${body.message}`);
        // Every refusal of a message field names it in an ErrorDetail too (a body that is not
        // JSON, or not of a content type the server speaks, has no field to name).
        if (c.field !== "JSON" && c.field !== "content-type") {
          assert.equal(body.details?.[0]?.debug?.subject, c.field, JSON.stringify(body));
        }
      });
    }
    await t.step("nothing was stored and the server is still healthy", async () => {
      const client = await Kagzi.connect(server.url);
      assert.equal((await client.health()).healthy, true);
      assert.equal((await client.list().withTotal()).totalCount, 0);
      const run = await client.start("after-bad-input").input({ ok: true });
      assert.deepEqual((await client.get(run.id)).input, { ok: true });
    });
  });
}
