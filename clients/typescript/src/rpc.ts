// Typed unary and server-streaming calls over a grpc-js Client, from protoc-gen-es's descriptors:
// the generated GenService names every method with its input and output schema, so no second
// generator (grpc-tools, ts-proto) is needed for stubs.
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import type { Client, ClientReadableStream, Metadata } from "@grpc/grpc-js";
import { fromGrpcError } from "./errors.js";

/** The wire bytes of a message, as the Buffer grpc-js wants, without copying them. */
function encode<I extends DescMessage>(schema: I, message: MessageShape<I>): Buffer {
  const bytes = toBinary(schema, message);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

export async function unary<I extends DescMessage, O extends DescMessage>(
  client: Client,
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
  metadata: Metadata | Promise<Metadata>,
  deadline: Date,
): Promise<MessageShape<O>> {
  // The token source (if any) answers first; its failure is the call's.
  const headers = await metadata;
  const message = create(method.input, request);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      methodPath(method),
      (m: MessageShape<I>) => encode(method.input, m),
      (b: Buffer) => fromBinary(method.output, b),
      message,
      headers,
      { deadline },
      (error, response) => (error ? reject(fromGrpcError(error)) : resolve(response!)),
    );
  });
}

export function serverStream<I extends DescMessage, O extends DescMessage>(
  client: Client,
  method: DescMethodServerStreaming<I, O>,
  request: MessageInitShape<I>,
  metadata: Metadata,
): ClientReadableStream<MessageShape<O>> {
  return client.makeServerStreamRequest(
    methodPath(method),
    (m: MessageShape<I>) => encode(method.input, m),
    (b: Buffer) => fromBinary(method.output, b),
    create(method.input, request),
    metadata,
    {},
  );
}
