/**
 * Binary Connect unary calls are answered without Connect's HTTP machinery
 * (`server/http/fast_unary.ts`); every other request goes the full way. The two ways must answer
 * alike: the same requests sent to a real server process as `application/proto` (the short way)
 * and as `Application/Proto` (the same content type to Connect, which the short way leaves to
 * it) get the same status, content type and message, or the same error with its details.
 */
import assert from "node:assert/strict";
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import {
  GetWorkflowRequestSchema,
  GetWorkflowResponseSchema,
  StartWorkflowRequestSchema,
  StartWorkflowResponseSchema,
} from "@kagzi/proto";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";
const key = "fast-unary-test-key-0123456789";

Deno.test(`the short way and Connect's answer binary unary calls alike (${backend})`, async (t) => {
  await using server = await startTestServer(backend, { env: { KAGZI_API_KEYS: key } });
  const post = async (
    method: string,
    body: Uint8Array,
    contentType: string,
    headers: Record<string, string> = { authorization: `Bearer ${key}` },
  ) => {
    const res = await fetch(`${server.url}/kagzi.v1.WorkflowService/${method}`, {
      method: "POST",
      body: body as Uint8Array<ArrayBuffer>,
      headers: { "content-type": contentType, ...headers },
    });
    return { status: res.status, type: res.headers.get("content-type"), body: await res.bytes() };
  };
  const both = async <O extends DescMessage>(
    method: string,
    body: Uint8Array,
    output: O,
    headers?: Record<string, string>,
  ) => {
    const short = await post(method, body, "application/proto", headers);
    const full = await post(method, body, "Application/Proto", headers);
    assert.equal(short.status, full.status, `${method}: status`);
    assert.equal(short.type, full.type, `${method}: content type`);
    if (short.status !== 200) {
      const error = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b));
      assert.deepEqual(error(short.body), error(full.body), `${method}: error`);
      return { status: short.status, error: error(short.body) };
    }
    const message: MessageShape<O> = fromBinary(output, short.body);
    assert.deepEqual(message, fromBinary(output, full.body), `${method}: message`);
    return { status: 200, message };
  };
  const start = (workflowId: string, workflowType = "fast") =>
    toBinary(
      StartWorkflowRequestSchema,
      create(StartWorkflowRequestSchema, { workflowType, workflowId }),
    );

  await t.step("answers, and errors with their details", async () => {
    // Started first, so that both answers are the same: it already exists.
    assert.equal((await post("StartWorkflow", start("same-id"), "application/proto")).status, 200);
    const started = await both("StartWorkflow", start("same-id"), StartWorkflowResponseSchema);
    assert.equal(started.message?.alreadyExists, true);
    assert.equal(started.status, 200);
    const runId = started.message!.runId;
    const got = await both(
      "GetWorkflow",
      toBinary(GetWorkflowRequestSchema, create(GetWorkflowRequestSchema, { runId })),
      GetWorkflowResponseSchema,
    );
    assert.equal(got.message?.workflow?.runId, runId);
    // An error raised by the handler, with its ErrorDetail (the SDK reads the subject).
    const missing = await both(
      "GetWorkflow",
      toBinary(
        GetWorkflowRequestSchema,
        create(GetWorkflowRequestSchema, { runId: crypto.randomUUID() }),
      ),
      GetWorkflowResponseSchema,
    );
    assert.equal(missing.error.code, "not_found");
    assert.equal(missing.error.details?.[0]?.type, "kagzi.v1.ErrorDetail");
    // One refused by the message check (an interceptor): a NUL in a name.
    const nul = await both("StartWorkflow", start("x", "a\0b"), StartWorkflowResponseSchema);
    assert.equal(nul.error.code, "invalid_argument");
    assert.match(nul.error.message, /"workflow_type"/);
  });

  await t.step("bodies that do not decode and refused keys take the full way", async () => {
    const garbage = await both(
      "StartWorkflow",
      new Uint8Array([9, 9, 255]),
      StartWorkflowResponseSchema,
    );
    assert.equal(garbage.error.code, "invalid_argument");
    // Field 1 (namespace), two bytes that are not UTF-8.
    const badUtf8 = new Uint8Array([0x0a, 0x02, 0xc3, 0x28]);
    const utf8 = await both("StartWorkflow", badUtf8, StartWorkflowResponseSchema);
    assert.match(utf8.error.message, /"namespace" is not valid UTF-8/);
    const noKey = await both("StartWorkflow", start("k"), StartWorkflowResponseSchema, {});
    assert.equal(noKey.status, 401);
    const wrongKey = await both("StartWorkflow", start("k"), StartWorkflowResponseSchema, {
      authorization: "Bearer nope-nope-nope-nope",
    });
    assert.equal(wrongKey.error.code, "unauthenticated");
  });
});
