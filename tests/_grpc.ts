/** Unary calls with the real @grpc/grpc-js client (HTTP/2 with trailers). */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";

/** Calls `path` with `req`, sending `metadata` (headers) when given. */
export function grpcUnary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  path: string,
  input: I,
  output: O,
  req: MessageShape<I>,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<MessageShape<O>> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (m: MessageShape<I>) => Buffer.from(toBinary(input, m)),
      (b: Buffer) => fromBinary(output, new Uint8Array(b)),
      req,
      metadata,
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  });
}
