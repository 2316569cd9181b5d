// A hand-written protobuf (proto3) codec for the messages of proto/tidepool.proto and grpc.health.v1.
// It exists so the CNI plugin can speak gRPC with node:http2 alone, without loading a protobuf library.
// Only the wire types these messages use are implemented: varint (uint32, bool, enum) and
// length-delimited (string, nested message). Unknown fields are skipped, as proto3 requires.

type Scalar = 'string' | 'uint32' | 'bool';
type FieldSpec =
  | { no: number; type: Scalar; repeated?: boolean }
  | { no: number; type: 'message'; schema: Schema; repeated?: boolean };
export type Schema = Record<string, FieldSpec>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function pushVarint(out: number[], value: number): void {
  let v = value >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

function pushBytes(out: number[], bytes: Uint8Array): void {
  pushVarint(out, bytes.length);
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i]);
}

function encodeInto(out: number[], schema: Schema, msg: Record<string, unknown>): void {
  for (const [name, spec] of compile(schema).defaults) {
    const raw = msg[name];
    if (raw === undefined || raw === null) continue;
    const values = spec.repeated ? (raw as unknown[]) : [raw];
    for (const value of values) {
      if (spec.type === 'string') {
        if (!spec.repeated && value === '') continue;
        pushVarint(out, (spec.no << 3) | 2);
        pushBytes(out, encoder.encode(String(value)));
      } else if (spec.type === 'uint32' || spec.type === 'bool') {
        const n = spec.type === 'bool' ? (value ? 1 : 0) : Number(value);
        if (n === 0 && !spec.repeated) continue;
        pushVarint(out, spec.no << 3);
        pushVarint(out, n);
      } else if (spec.type === 'message') {
        const inner: number[] = [];
        encodeInto(inner, spec.schema, value as Record<string, unknown>);
        pushVarint(out, (spec.no << 3) | 2);
        pushBytes(out, Uint8Array.from(inner));
      }
    }
  }
}

export function encode(schema: Schema, msg: object): Uint8Array {
  const out: number[] = [];
  encodeInto(out, schema, msg as Record<string, unknown>);
  return Uint8Array.from(out);
}

export class DecodeError extends Error {}

interface Compiled {
  byNo: Map<number, [string, FieldSpec]>;
  /** The message with every field at its proto3 default, copied for each decode. */
  defaults: [string, FieldSpec][];
}

// Schemas are static tables: the field-number index is built once per schema, not once per decode.
const compiled = new WeakMap<Schema, Compiled>();

function compile(schema: Schema): Compiled {
  let c = compiled.get(schema);
  if (!c) {
    const entries = Object.entries(schema);
    c = { byNo: new Map(entries.map(([name, spec]) => [spec.no, [name, spec]])), defaults: entries };
    compiled.set(schema, c);
  }
  return c;
}

export function decode<T>(schema: Schema, buf: Uint8Array): T {
  const { byNo, defaults } = compile(schema);
  const msg: Record<string, unknown> = {};
  for (const [name, spec] of defaults) {
    msg[name] = spec.repeated
      ? []
      : spec.type === 'string'
        ? ''
        : spec.type === 'bool'
          ? false
          : spec.type === 'uint32'
            ? 0
            : undefined;
  }
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= buf.length) throw new DecodeError('truncated varint');
      const b = buf[pos++];
      if (shift < 32) result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
      if (shift > 63) throw new DecodeError('varint too long');
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const no = key >>> 3;
    const wire = key & 7;
    const field = byNo.get(no);
    let value: unknown;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = varint();
      if (pos + len > buf.length) throw new DecodeError('truncated length-delimited field');
      const bytes = buf.subarray(pos, pos + len);
      pos += len;
      if (!field) continue;
      const spec = field[1];
      value = spec.type === 'message' ? decode(spec.schema, bytes) : decoder.decode(bytes);
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new DecodeError(`unsupported wire type ${wire}`);
    if (!field || value === undefined) continue;
    const [name, spec] = field;
    if (spec.type === 'bool') value = value !== 0;
    if (spec.repeated) (msg[name] as unknown[]).push(value);
    else msg[name] = value;
  }
  return msg as T;
}
