// A minimal HTTP/2 client connection (RFC 9113) over a Unix socket (cni/sys/unix-socket.ts), enough for unary
// gRPC calls to a local server: prior-knowledge cleartext, one request stream per call, SETTINGS and PING
// answered, GOAWAY and RST_STREAM honoured. It replaces node:http2, whose 85 internal modules cost the
// plugin ~20 ms of CPU at every pod ADD. Request bodies are tiny, so flow control only ever grants the
// server more window.
import { Flag, FrameType as Type, frame, H2Error, PREFACE, Setting, u32, unpad } from './h2-frame.js';
import { HpackDecoder, hpackEncode } from './hpack.js';
import { connectUnix, type ByteStream } from '../sys/unix-socket.js';

const { EndStream: END_STREAM, Ack: ACK, EndHeaders: END_HEADERS, Priority: PRIORITY } = Flag;
/** We grant the server a large window once, so that no response ever waits for a WINDOW_UPDATE. */
const WINDOW = 1 << 30;

export type Headers = Map<string, string>;
export interface Response {
  headers: Headers;
  data: Buffer;
  trailers: Headers;
}

/** The connection failed or the server refused the stream; `reason` is an errno or an HTTP/2 error. */
export class ConnectionError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ConnectionError';
  }
}

interface Stream {
  headers: Headers | null;
  trailers: Headers | null;
  data: Buffer[];
  resolve: (r: Response) => void;
  reject: (e: Error) => void;
}

export class Http2Connection {
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, Stream>();
  private nextId = 1;
  private buffer: Buffer = Buffer.alloc(0);
  private headerBlock: { stream: number; flags: number; parts: Buffer[] } | null = null;
  private failure: ConnectionError | null = null;

  private socket!: ByteStream;

  private constructor() {}

  /** Connects to a Unix socket and opens HTTP/2 on it (the preface goes out once the socket is connected). */
  static async open(path: string): Promise<Http2Connection> {
    const c = new Http2Connection();
    c.socket = await connectUnix(path, {
      data: (chunk) => c.receive(chunk),
      error: (code) => c.fail(new ConnectionError(code)),
      close: () => c.fail(new ConnectionError('connection closed')),
    });
    c.sendPreface();
    return c;
  }

  private sendPreface(): void {
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(Setting.EnablePush, 0);
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(Setting.InitialWindowSize, 6);
    settings.writeUInt32BE(WINDOW, 8);
    this.socket.write(
      Buffer.concat([
        PREFACE,
        frame(Type.Settings, 0, 0, settings),
        frame(Type.WindowUpdate, 0, 0, u32(WINDOW - 65535)),
      ]),
    );
  }

  /**
   * Starts a request. `headers` is a list of headers or a header block already encoded by hpackEncode (which
   * uses no dynamic table, so a block can be encoded once and sent on any connection).
   */
  request(headers: [string, string][] | Buffer, body: Buffer): { id: number; response: Promise<Response> } {
    const id = this.nextId;
    this.nextId += 2;
    const response = new Promise<Response>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.streams.set(id, { headers: null, trailers: null, data: [], resolve, reject });
      this.socket.write(
        Buffer.concat([
          frame(Type.Headers, END_HEADERS, id, Buffer.isBuffer(headers) ? headers : hpackEncode(headers)),
          frame(Type.Data, END_STREAM, id, body),
        ]),
      );
    });
    return { id, response };
  }

  /** Abandons a stream (deadline): RST_STREAM CANCEL, its promise rejected by the caller. */
  cancel(id: number): void {
    if (!this.streams.delete(id) || this.failure) return;
    this.socket.write(frame(Type.RstStream, 0, id, u32(H2Error.Cancel)));
  }

  close(): void {
    this.socket.destroy();
  }

  private fail(err: ConnectionError): void {
    this.failure ??= err;
    for (const s of this.streams.values()) s.reject(this.failure);
    this.streams.clear();
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    try {
      while (this.buffer.length >= 9) {
        const len = this.buffer.readUIntBE(0, 3);
        if (this.buffer.length < 9 + len) break;
        const type = this.buffer[3];
        const flags = this.buffer[4];
        const stream = this.buffer.readUInt32BE(5) & 0x7fffffff;
        const payload = this.buffer.subarray(9, 9 + len);
        this.buffer = this.buffer.subarray(9 + len);
        this.onFrame(type, flags, stream, payload);
      }
    } catch (err) {
      this.fail(new ConnectionError(`protocol error: ${(err as Error).message}`));
      this.socket.destroy();
    }
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.headerBlock && type !== Type.Continuation) throw new Error('header block interrupted');
    switch (type) {
      case Type.Settings:
        if (!(flags & ACK)) this.socket.write(frame(Type.Settings, ACK, 0));
        return;
      case Type.Ping:
        if (!(flags & ACK)) this.socket.write(frame(Type.Ping, ACK, 0, payload));
        return;
      case Type.Goaway: {
        const last = payload.readUInt32BE(0) & 0x7fffffff;
        const err = new ConnectionError(`GOAWAY (error ${payload.readUInt32BE(4)})`);
        this.failure ??= err;
        for (const [sid, s] of this.streams) {
          if (sid <= last) continue; // the server still answers the streams it has started
          this.streams.delete(sid);
          s.reject(err);
        }
        return;
      }
      case Type.RstStream: {
        const s = this.streams.get(id);
        this.streams.delete(id);
        s?.reject(new ConnectionError(`stream reset (error ${payload.readUInt32BE(0)})`));
        return;
      }
      case Type.Headers: {
        let body = unpad(payload, flags);
        if (flags & PRIORITY) body = body.subarray(5);
        this.headerBlock = { stream: id, flags, parts: [body] };
        if (flags & END_HEADERS) this.endHeaders();
        return;
      }
      case Type.Continuation:
        if (!this.headerBlock || this.headerBlock.stream !== id) throw new Error('unexpected CONTINUATION');
        this.headerBlock.parts.push(payload);
        if (flags & END_HEADERS) this.endHeaders();
        return;
      case Type.Data: {
        const s = this.streams.get(id);
        s?.data.push(unpad(payload, flags));
        if (s && flags & END_STREAM) this.finish(id, s);
        return;
      }
      default: // WINDOW_UPDATE, PRIORITY, unknown types: nothing to do for a client sending tiny requests
        return;
    }
  }

  private endHeaders(): void {
    const { stream: id, flags, parts } = this.headerBlock!;
    this.headerBlock = null;
    // Decoded even for a stream we abandoned: the dynamic table is shared by the whole connection.
    const headers = new Map(this.decoder.decode(Buffer.concat(parts)));
    const s = this.streams.get(id);
    if (!s) return;
    if (s.headers === null) s.headers = headers;
    else s.trailers = headers;
    if (flags & END_STREAM) this.finish(id, s);
  }

  private finish(id: number, s: Stream): void {
    this.streams.delete(id);
    // A trailers-only answer (an error) carries everything in its one header block.
    s.resolve({
      headers: s.headers ?? new Map(),
      data: Buffer.concat(s.data),
      trailers: s.trailers ?? s.headers ?? new Map(),
    });
  }
}
