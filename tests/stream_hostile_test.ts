/**
 * Hostile requests to ReadStream, the one server-streaming RPC (the generated fuzz covers the
 * unary ones): over Connect streaming and gRPC-Web, a missing key, a broken frame, bytes that are
 * no message, invalid UTF-8, an oversize body and an unknown run each get their own clear code,
 * and the server still serves a good read afterwards.
 */
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { ReadStreamRequestSchema } from "@kagzi/proto";
import { Kagzi } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { envelope } from "./_fuzz_wire.ts";
import { grpcWebStatus } from "./_grpc.ts";

const key = "stream-hostile-key-0123456789";
const path = "/kagzi.v1.StreamService/ReadStream";

/** The Connect error of a streaming answer (its end-stream frame), or "ok". */
async function connectStreamCode(res: Response): Promise<{ code: string; message: string }> {
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) {
    const json = JSON.parse(new TextDecoder().decode(bytes));
    return { code: json.code, message: json.message ?? "" };
  }
  for (let at = 0; at + 5 <= bytes.length;) {
    const len = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
    if (bytes[at] & 0x02) {
      const end = JSON.parse(new TextDecoder().decode(bytes.subarray(at + 5, at + 5 + len)));
      return end.error ?? { code: "ok", message: "" };
    }
    at += 5 + len;
  }
  return { code: "no end-stream frame", message: "" };
}

const message = (runId: string, name = "s") =>
  toBinary(ReadStreamRequestSchema, create(ReadStreamRequestSchema, { runId, name }));

Deno.test("ReadStream refuses hostile requests with clear codes on Connect and gRPC-Web", async (t) => {
  const backend = (await backends()).at(-1)!;
  await using server = await startTestServer(backend, { args: ["--api-keys", key] });
  const unknown = crypto.randomUUID();
  const connect = async (body: Uint8Array, auth = true) =>
    await connectStreamCode(
      await fetch(server.url + path, {
        method: "POST",
        headers: {
          "content-type": "application/connect+proto",
          "connect-protocol-version": "1",
          ...(auth ? { authorization: `Bearer ${key}` } : {}),
        },
        body: body as Uint8Array<ArrayBuffer>,
      }),
    );
  // A name holding the bytes of invalid UTF-8: field 3 (name), length 2, 0xC3 0x28.
  const badUtf8 = new Uint8Array([...message(unknown, ""), 0x1a, 0x02, 0xc3, 0x28]);
  const cases: [string, Uint8Array, boolean, string, RegExp][] = [
    ["no key", envelope(message(unknown)), false, "unauthenticated", /authorization/],
    [
      "a truncated frame",
      envelope(message(unknown), 0, 999),
      true,
      "invalid_argument",
      /truncated/,
    ],
    [
      "bytes that are no message",
      envelope(new Uint8Array([0xff, 0xff, 0xff])),
      true,
      "invalid_argument",
      /Cannot decode/,
    ],
    [
      "invalid UTF-8 in name",
      envelope(badUtf8),
      true,
      "invalid_argument",
      /"name" is not valid UTF-8/,
    ],
    [
      "an oversize body",
      envelope(new Uint8Array(9 * 1024 * 1024)),
      true,
      "resource_exhausted",
      /limit/,
    ],
    ["an unknown run", envelope(message(unknown)), true, "not_found", /was not found/],
    [
      "an empty name",
      envelope(message(unknown, "")),
      true,
      "invalid_argument",
      /"name" must not be empty/,
    ],
  ];
  for (const [what, body, auth, code, msg] of cases) {
    await t.step(`Connect: ${what} is ${code}`, async () => {
      const got = await connect(body, auth);
      assert.equal(got.code, code, `${what}: ${JSON.stringify(got)}`);
      assert.match(got.message, msg, what);
    });
  }

  await t.step("gRPC-Web: a broken frame and an unknown run", async () => {
    const web = (body: Uint8Array) =>
      fetch(server.url + path, {
        method: "POST",
        headers: { "content-type": "application/grpc-web+proto", authorization: `Bearer ${key}` },
        body: body as Uint8Array<ArrayBuffer>,
      }).then(grpcWebStatus);
    assert.equal((await web(envelope(message(unknown), 0, 999))).grpcStatus, 3);
    assert.equal((await web(envelope(message(unknown)))).grpcStatus, 5);
  });

  await t.step("the server still serves a good read", async () => {
    const client = await Kagzi.connect(server.url, { apiKey: key });
    const run = await client.start("nobody-serves-this").input({});
    const got = [];
    const stop = AbortSignal.timeout(300);
    for await (const e of client.handle(run.id).stream("s", { signal: stop })) got.push(e);
    assert.deepEqual(got, []);
    assert.equal(await client.handle(run.id).latest("s"), undefined);
  });
});
