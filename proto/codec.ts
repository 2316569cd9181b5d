// Encoding and decoding of the contract's messages, on the code protobufjs generates from proto/tidepool.proto
// (proto/generated/, made by scripts/gen-proto.mjs). Both sides use it: the daemon's gRPC service
// definitions and the plugin's lean unary client. A decoded message is a plain object with every field
// present (proto3 defaults filled in), whatever the sender omitted.
import protobuf from 'protobufjs/minimal.js';

/** A generated message type: what encode and decode need of it. */
export interface Schema {
  encode(message: object): { finish(): Uint8Array };
  decode(reader: Uint8Array): object;
  toObject(message: never, options: protobuf.IConversionOptions): { [k: string]: unknown };
}

/** The request or response bytes are not a message of the expected type. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

const OBJECT: protobuf.IConversionOptions = { defaults: true, arrays: true, enums: Number };

export function encode(schema: Schema, msg: object): Uint8Array {
  return schema.encode(msg).finish();
}

export function decode<T>(schema: Schema, buf: Uint8Array): T {
  let message: object;
  try {
    message = schema.decode(buf);
  } catch (err) {
    throw new DecodeError((err as Error).message);
  }
  return schema.toObject(message as never, OBJECT) as T;
}
