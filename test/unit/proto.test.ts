// The contract's code is generated from proto/tidepool.proto (scripts/gen-proto.mjs). These tests fail when the
// checked-in code is not what the generator makes of the .proto, and, field by field, when a message of the
// .proto (read by protobufjs's own parser) and the generated code disagree on a field's number or type:
// plugin and daemon would misread each other.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import { decode, encode, DecodeError, type Schema } from '../../proto/codec.js';
import { schemas } from '../../proto/messages.js';
import { checkUtf8 } from '../../proto/services.js';

const ROOT = process.cwd();
const root = protobuf.loadSync(path.join(ROOT, 'proto/tidepool.proto'));
const ours = root.lookup('tidepool.v1') as protobuf.Namespace;
const messageTypes = ours.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type);

/** A distinct non-default value for every field, from its number, so that a swapped number shows. */
function sample(type: protobuf.Type, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fieldsArray) {
    f.resolve();
    const one = (i: number): unknown =>
      f.resolvedType instanceof protobuf.Type
        ? sample(f.resolvedType, depth + 1)
        : f.type === 'string'
          ? `${f.name}-${f.id}-${i}-é`
          : f.type === 'bool'
            ? true
            : f.type === 'uint32'
              ? 1000 * f.id + i + 1
              : (() => {
                  throw new Error(`${type.name}.${f.name}: type ${f.type} has no sample here; add one`);
                })();
    out[f.name] = f.repeated ? [one(0), one(1)] : one(0);
  }
  return out;
}

describe('generated contract', () => {
  test('the checked-in code is what scripts/gen-proto.mjs makes of the .proto files', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tp-proto-'));
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'scripts/gen-proto.mjs'), dir], { cwd: ROOT });
      for (const f of ['tidepool.js', 'tidepool.d.ts', 'tidepool.json'])
        expect(readFileSync(path.join(dir, f), 'utf8')).toBe(
          readFileSync(path.join(ROOT, 'proto/generated', f), 'utf8'),
        );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test('every message of the .proto has generated code', () => {
    expect(messageTypes.map((t) => t.name).sort()).toEqual(
      Object.keys(schemas)
        .filter((k) => !k.startsWith('Health'))
        .sort(),
    );
  });

  for (const type of messageTypes) {
    test(`${type.name}: every field crosses between the .proto's reading and the generated code`, () => {
      const generated = (schemas as Record<string, Schema>)[type.name];
      const value = sample(type);
      // generated → .proto
      const viaProto = type.toObject(type.decode(encode(generated, value)), { defaults: true, arrays: true });
      expect(viaProto).toEqual(value);
      // .proto → generated
      expect(decode(generated, type.encode(type.fromObject(value)).finish())).toEqual(value);
      // field by field: a message holding only that field decodes to only that field on the other side
      for (const f of type.fieldsArray) {
        const only = { [f.name]: value[f.name] };
        const back = decode<Record<string, unknown>>(generated, type.encode(type.fromObject(only)).finish());
        expect({ field: f.name, value: back[f.name] }).toEqual({ field: f.name, value: value[f.name] });
      }
    });
  }

  test('defaults decode to zero values, as proto3 requires', () => {
    expect(decode(schemas.AllocateResponse, new Uint8Array())).toEqual({
      address: '',
      deviceNumber: 0,
      routeTable: 0,
      subnetGateway: '',
      subnetCidr: '',
      mtu: 0,
      vpcCidrs: [],
      interfaceId: '',
      waitedMs: 0,
      reused: false,
    });
  });

  test('unknown fields are skipped', () => {
    const bytes = Uint8Array.from([0x08, 0x01, 0xa8, 0x1f, 0x05, 0x12, 0x02, 0x6f, 0x6b]); // ready, #501, message
    expect(decode(schemas.StatusResponse, bytes)).toMatchObject({ ready: true, message: 'ok' });
  });

  test('truncated input is an error, not a silent partial message', () => {
    const full = encode(schemas.StatusResponse, { ready: true, message: 'a long enough message' });
    expect(() => decode(schemas.StatusResponse, full.subarray(0, full.length - 3))).toThrow(DecodeError);
  });

  test('strict UTF-8: invalid bytes in a string field, at any depth, are refused; valid ones pass', () => {
    const ok = encode(schemas.GcRequest, {
      network: 'tidepool',
      valid: [{ containerId: 'ü', ifname: 'eth0' }],
    });
    expect(() => checkUtf8('tidepool.v1.GcRequest', ok)).not.toThrow();
    const badTop = Uint8Array.from([0x0a, 0x02, 0xc3, 0x28]); // network: an invalid 2-byte sequence
    expect(() => checkUtf8('tidepool.v1.GcRequest', badTop)).toThrow(/field 1 .*UTF-8/);
    const badNested = Uint8Array.from([0x12, 0x03, 0x12, 0x01, 0xff]); // valid[0].ifname = 0xFF
    expect(() => checkUtf8('tidepool.v1.GcRequest', badNested)).toThrow(/Attachment.*UTF-8/);
  });
});
