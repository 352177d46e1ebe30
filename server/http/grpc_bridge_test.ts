import assert from "node:assert/strict";
import {
  encodeGrpcMessage,
  FrameSplitter,
  fromGrpcWebContentType,
  statusFromHttp,
  toGrpcWebContentType,
  upstreamHeaders,
} from "./grpc_bridge.ts";

const frame = (flags: number, body: number[]) => [flags, 0, 0, 0, body.length, ...body];

Deno.test("FrameSplitter passes message frames through and reads the trailer frame, across chunks", () => {
  const trailer = [...new TextEncoder().encode("grpc-status: 3\r\ngrpc-message: bad%20x\r\n")];
  const bytes = new Uint8Array([...frame(0, [1, 2, 3]), ...frame(1, [9]), ...frame(0x80, trailer)]);
  const split = new FrameSplitter();
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) {
    for (const f of split.push(bytes.subarray(i, i + 4))) out.push(...f);
  }
  assert.deepEqual(out, [...frame(0, [1, 2, 3]), ...frame(1, [9])]);
  assert.deepEqual(split.trailer, { "grpc-status": "3", "grpc-message": "bad%20x" });
  assert.equal(split.pending, 0);
});

Deno.test("content types map between gRPC and gRPC-Web; only gRPC is translated", () => {
  assert.equal(toGrpcWebContentType("application/grpc"), "application/grpc-web+proto");
  assert.equal(toGrpcWebContentType("application/grpc+json"), "application/grpc-web+json");
  assert.equal(toGrpcWebContentType("application/grpc-web+proto"), undefined);
  assert.equal(toGrpcWebContentType("application/json"), undefined);
  assert.equal(fromGrpcWebContentType("application/grpc-web+proto"), "application/grpc+proto");
});

Deno.test("upstreamHeaders keeps metadata and drops pseudo and hop-by-hop headers", () => {
  const h = upstreamHeaders({
    ":path": "/x",
    "content-type": "application/grpc",
    te: "trailers",
    authorization: "Bearer k",
    "grpc-timeout": "1S",
    "x-bin": ["a", "b"],
  }, "application/grpc-web+proto");
  assert.equal(h.get("content-type"), "application/grpc-web+proto");
  assert.equal(h.get("authorization"), "Bearer k");
  assert.equal(h.get("grpc-timeout"), "1S");
  assert.equal(h.get("x-bin"), "a, b");
  assert.equal(h.has("te"), false);
  assert.equal(h.get("kagzi-grpc-listener"), "1");
});

Deno.test("statusFromHttp prefers the Connect code of a JSON body, else maps the HTTP status", () => {
  assert.deepEqual(statusFromHttp(404, '{"code":"unimplemented","message":"No such"}'), {
    code: 12,
    message: "No such",
  });
  assert.equal(statusFromHttp(401, "").code, 16);
  assert.equal(statusFromHttp(503, "down").code, 14);
  assert.equal(statusFromHttp(500, "boom").code, 2);
  assert.equal(encodeGrpcMessage("a%b é\n"), "a%25b %C3%A9%0A");
});
