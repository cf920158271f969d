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

/**
 * One unary call. The headers may be a promise (a token source answering); with a fixed token they
 * are at hand and the call starts at once, without waiting a turn of the event loop for them.
 */
export function unary<I extends DescMessage, O extends DescMessage>(
  client: Client,
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
  metadata: Metadata | Promise<Metadata>,
  deadline: Date,
): Promise<MessageShape<O>> {
  const send = (headers: Metadata) =>
    call(
      client,
      methodPath(method),
      create(method.input, request),
      (m: MessageShape<I>) => encode(method.input, m),
      (b: Buffer) => fromBinary(method.output, b),
      headers,
      deadline,
    );
  // The token source (if any) answers first; its failure is the call's.
  if (metadata instanceof Promise) return metadata.then(send);
  try {
    return send(metadata);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * A unary call with its own codec: grpc-js encodes the request with serialize (the identity,
 * `encoded`, for a request wire.ts already encoded) and decodes the answer with deserialize.
 */
export function call<Req, Res>(
  client: Client,
  path: string,
  request: Req,
  serialize: (request: Req) => Buffer,
  deserialize: (bytes: Buffer) => Res,
  headers: Metadata | Promise<Metadata>,
  deadline: Date,
): Promise<Res> {
  if (headers instanceof Promise) return headers.then((h) => call(client, path, request, serialize, deserialize, h, deadline));
  return new Promise((resolve, reject) => {
    // grpc-js captures the caller's stack trace in an Error on every call, only to append it to a
    // failure's stack (the TesseraError's cause). Capturing it is the largest single cost of a call
    // on the client's side: about a tenth of the Node process's CPU per sequential Introspect, more
    // than the SDK's own work. A failure says what went wrong by its code and reason, so the capture
    // is off while the call starts (synchronously, nothing else runs meanwhile); an error grpc-js
    // throws there gets its stack here.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      client.makeUnaryRequest(path, serialize, deserialize, request, headers, { deadline }, (error, response) =>
        error ? reject(fromGrpcError(error)) : resolve(response!),
      );
    } catch (e) {
      Error.stackTraceLimit = limit;
      if (e instanceof Error) Error.captureStackTrace(e);
      throw e;
    } finally {
      Error.stackTraceLimit = limit;
    }
  });
}

/** The identity serializer of a request encoded beforehand. */
export const encoded = (b: Buffer): Buffer => b;

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
