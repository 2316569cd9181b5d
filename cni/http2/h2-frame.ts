// HTTP/2 framing (RFC 9113 section 4 and 6) for the plugin's client (cni/http2/connection.ts): only the part
// of HTTP/2 that one unary gRPC call over a local socket needs, without node:http2's per-stream objects.
// (The daemon serves with @grpc/grpc-js on node:http2.)

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  Data: 0,
  Headers: 1,
  Priority: 2,
  RstStream: 3,
  Settings: 4,
  PushPromise: 5,
  Ping: 6,
  Goaway: 7,
  WindowUpdate: 8,
  Continuation: 9,
} as const;

export const Flag = {
  EndStream: 0x1,
  Ack: 0x1,
  EndHeaders: 0x4,
  Padded: 0x8,
  Priority: 0x20,
} as const;

/** SETTINGS identifiers (RFC 9113 section 6.5.2). */
export const Setting = {
  HeaderTableSize: 0x1,
  EnablePush: 0x2,
  MaxConcurrentStreams: 0x3,
  InitialWindowSize: 0x4,
  MaxFrameSize: 0x5,
  MaxHeaderListSize: 0x6,
} as const;

/** Error codes (RFC 9113 section 7). */
export const H2Error = {
  NoError: 0x0,
  ProtocolError: 0x1,
  InternalError: 0x2,
  FlowControlError: 0x3,
  FrameSizeError: 0x6,
  RefusedStream: 0x7,
  Cancel: 0x8,
  CompressionError: 0x9,
  EnhanceYourCalm: 0xb,
} as const;

/** The frame size every peer accepts until it says otherwise (SETTINGS_MAX_FRAME_SIZE). */
export const DEFAULT_MAX_FRAME = 16_384;
/** The flow-control window of a connection and of every stream until SETTINGS or WINDOW_UPDATE say more. */
export const DEFAULT_WINDOW = 65_535;

export function frame(type: number, flags: number, stream: number, payload?: Uint8Array): Buffer {
  const length = payload?.length ?? 0;
  const f = Buffer.allocUnsafe(9 + length);
  f.writeUIntBE(length, 0, 3);
  f[3] = type;
  f[4] = flags;
  f.writeUInt32BE(stream, 5);
  if (payload) f.set(payload, 9);
  return f;
}

/** A 4-byte big-endian payload (WINDOW_UPDATE increment, RST_STREAM error code). */
export function u32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value, 0);
  return b;
}

/** A DATA or HEADERS payload without its padding (flag PADDED: a length byte first, the padding last). */
export function unpad(payload: Buffer, flags: number): Buffer {
  if (!(flags & Flag.Padded)) return payload;
  if (payload.length === 0) throw new Error('padded frame without its pad length');
  const pad = payload[0];
  if (pad >= payload.length) throw new Error('bad padding');
  return payload.subarray(1, payload.length - pad);
}
