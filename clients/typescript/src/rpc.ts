// Typed unary and server-streaming calls from protoc-gen-es's descriptors: the generated GenService
// names every method with its input and output schema, so no second generator (grpc-tools, ts-proto)
// is needed for stubs. Unary calls go over the client's transport (transport.ts), server streams
// over its grpc-js channel.
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
import { framed, type Headers, type Transport } from "./transport.js";

export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/**
 * One unary call with protoc-gen-es's codec. The headers may be a promise (a token source
 * answering); with a fixed token they are at hand and the call starts at once, without waiting a
 * turn of the event loop for them. deadline: milliseconds since the epoch.
 */
export function unary<I extends DescMessage, O extends DescMessage>(
  transport: Transport,
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
  headers: Headers | Promise<Headers>,
  deadline: number,
): Promise<MessageShape<O>> {
  let frame: Buffer;
  try {
    frame = framed(toBinary(method.input, create(method.input, request)));
  } catch (e) {
    return Promise.reject(e);
  }
  return transport.unary(methodPath(method), frame, (b) => fromBinary(method.output, b), headers, deadline);
}

export function serverStream<I extends DescMessage, O extends DescMessage>(
  client: Client,
  method: DescMethodServerStreaming<I, O>,
  request: MessageInitShape<I>,
  metadata: Metadata,
): ClientReadableStream<MessageShape<O>> {
  return client.makeServerStreamRequest(
    methodPath(method),
    (m: MessageShape<I>) => {
      const bytes = toBinary(method.input, m);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    (b: Buffer) => fromBinary(method.output, b),
    create(method.input, request),
    metadata,
    {},
  );
}
