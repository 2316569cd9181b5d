// The server side of HTTP/2 (RFC 9113) for unary gRPC on the daemon's Unix socket, in place of node:http2.
// node:http2 builds a Duplex stream, header objects and session bookkeeping for every call; in the daemon
// bench that machinery was most of the CPU of an Allocate and most of what reached the old generation
// (a V8 heap sample of objects surviving a scavenge), whose collections were the pauses behind the p99.
// A unary call needs much less: a request is one header block and a few DATA frames, the answer one
// header block, one message and the trailers, so a connection here is a frame parser, an HPACK decoder
// and a map of open streams.
//
// What it implements: the connection preface, SETTINGS (peer's INITIAL_WINDOW_SIZE and MAX_FRAME_SIZE),
// PING, GOAWAY both ways, RST_STREAM, WINDOW_UPDATE, HEADERS with padding, priority and CONTINUATION, and
// flow control in both directions: the client is granted a window that a whole request of the largest
// accepted size fits in (re-granted on the connection as it is used); the answer waits for the client's
// window when that is smaller than the answer. Server push, priorities and HTTP/1 are not offered.
import { createServer, type Server, type Socket } from 'node:net';
import {
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  Flag,
  FrameType,
  frame,
  H2Error,
  PREFACE,
  Setting,
  u32,
  unpad,
} from '../proto/h2-frame.js';
import { HpackDecoder, hpackEncode } from '../proto/hpack.js';

export type Headers = Map<string, string>;

export interface H2ServerOptions {
  /** The largest request body a stream may carry; a larger one is answered by `onOverflow`. */
  maxBody: number;
  /** Streams open at once on a connection; more are refused (REFUSED_STREAM, the client may retry). */
  maxStreams?: number;
  /** A request's header block, compressed, at most (a larger one ends the connection). */
  maxHeaderBlock?: number;
  /** A new stream: its request headers. The body follows through `stream.onEnd`. */
  onStream: (stream: H2Stream) => void;
}

const CONNECTION_WINDOW = 1 << 30;

/** One request stream: the request's headers and body, and the answer sent once. */
export class H2Stream {
  /** Called once with the whole body when the client has ended its side. */
  onEnd: ((body: Buffer) => void) | null = null;
  /** Called when the client reset the stream or the connection went away before the answer. */
  onAbort: (() => void) | null = null;
  /** Called once when the body grows past the server's maxBody (the stream is answered by the handler). */
  onOverflow: (() => void) | null = null;
  /** True once the answer is sent or the stream was reset: nothing more can be sent. */
  closed = false;
  /** True once the client has ended its side (END_STREAM). */
  remoteEnded = false;
  sendWindow: number;
  private chunks: Buffer[] = [];
  private size = 0;
  private held = 0; // bytes of `chunks`, counted in the connection's buffered total
  /** Answer bytes waiting for the client's flow-control window, and the trailers to send after them. */
  pending: { data: Buffer; trailers: Buffer } | null = null;

  constructor(
    readonly id: number,
    readonly headers: Headers,
    private readonly conn: H2Connection,
  ) {
    this.sendWindow = conn.peerInitialWindow;
  }

  /** @internal request DATA */
  receive(data: Buffer, end: boolean): void {
    if (this.closed) return;
    if (end) this.remoteEnded = true;
    this.size += data.length;
    if (this.size > this.conn.maxBody) {
      this.drop();
      const overflow = this.onOverflow;
      this.onOverflow = null;
      this.onEnd = null;
      overflow?.();
      return;
    }
    if (data.length) {
      this.chunks.push(data);
      this.held += data.length;
      this.conn.hold(data.length);
    }
    if (end) {
      const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      this.drop();
      const cb = this.onEnd;
      this.onEnd = null;
      cb?.(body);
    }
  }

  /** Answers with headers only, ending the stream (an error, or a gRPC trailers-only status). */
  respondHeadersOnly(headers: [string, string][]): void {
    if (this.closed) return;
    this.conn.sendHeaderBlock(this.id, hpackEncode(headers), true);
    this.conn.endStream(this);
  }

  /** Answers with a pre-encoded header block, a body and a pre-encoded trailer block. */
  respond(headerBlock: Buffer, data: Buffer, trailerBlock: Buffer): void {
    if (this.closed) return;
    this.conn.sendHeaderBlock(this.id, headerBlock, false);
    this.pending = { data, trailers: trailerBlock };
    this.conn.flush(this);
  }

  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.drop();
    this.onEnd = null;
    const cb = this.onAbort;
    this.onAbort = null;
    cb?.();
  }

  private drop(): void {
    this.chunks = [];
    this.conn.hold(-this.held);
    this.held = 0;
  }
}

class ConnectionFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Request bytes a connection may hold across its open streams before it is closed (ENHANCE_YOUR_CALM). */
const MAX_CONNECTION_BUFFER = 64 << 20;

/** One client connection. */
export class H2Connection {
  readonly maxBody: number;
  private readonly maxStreams: number;
  private readonly maxHeaderBlock: number;
  private buffered = 0;
  peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = DEFAULT_MAX_FRAME;
  private sendWindow = DEFAULT_WINDOW;
  private received = 0; // connection window used by the client since we last granted more
  private readonly streams = new Map<number, H2Stream>();
  private readonly decoder = new HpackDecoder();
  private buffer: Buffer | null = null;
  private prefaceSeen = false;
  private headerBlock: { id: number; flags: number; parts: Buffer[]; size: number } | null = null;
  private lastStream = 0;
  private goawaySent = false;
  private out: Buffer[] = [];
  private flushScheduled = false;
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly opts: H2ServerOptions,
  ) {
    this.maxBody = opts.maxBody;
    this.maxStreams = opts.maxStreams ?? 1000;
    this.maxHeaderBlock = opts.maxHeaderBlock ?? 65_536;
    const settings = Buffer.allocUnsafe(18);
    settings.writeUInt16BE(Setting.MaxConcurrentStreams, 0);
    settings.writeUInt32BE(this.maxStreams, 2);
    // A stream's window holds the largest request we accept: no per-stream WINDOW_UPDATE is ever needed.
    settings.writeUInt16BE(Setting.InitialWindowSize, 6);
    settings.writeUInt32BE(opts.maxBody + 1024, 8);
    settings.writeUInt16BE(Setting.MaxHeaderListSize, 12);
    settings.writeUInt32BE(this.maxHeaderBlock, 14);
    this.write(frame(FrameType.Settings, 0, 0, settings));
    this.write(frame(FrameType.WindowUpdate, 0, 0, u32(CONNECTION_WINDOW - DEFAULT_WINDOW)));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => undefined); // a client that vanished: 'close' follows
    socket.once('close', () => {
      for (const s of this.streams.values()) s.abort();
      this.streams.clear();
    });
  }

  /** Sends GOAWAY: streams already started are answered, new ones refused; the socket ends when idle. */
  goaway(): void {
    if (this.goawaySent || this.socket.destroyed) return;
    this.goawaySent = true;
    const payload = Buffer.allocUnsafe(8);
    payload.writeUInt32BE(this.lastStream, 0);
    payload.writeUInt32BE(H2Error.NoError, 4);
    this.write(frame(FrameType.Goaway, 0, 0, payload));
    this.endIfIdle();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** @internal counts request bytes held by streams; too many end the connection. */
  hold(delta: number): void {
    this.buffered += delta;
    if (this.buffered > MAX_CONNECTION_BUFFER)
      throw new ConnectionFailure(
        H2Error.EnhanceYourCalm,
        `over ${MAX_CONNECTION_BUFFER} bytes of requests held`,
      );
  }

  /** @internal HEADERS (and CONTINUATION when the block is larger than the client's frame size). */
  sendHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    const end = endStream ? Flag.EndStream : 0;
    if (block.length <= this.peerMaxFrame) {
      this.write(frame(FrameType.Headers, end | Flag.EndHeaders, id, block));
      return;
    }
    for (let off = 0; off < block.length; off += this.peerMaxFrame) {
      const part = block.subarray(off, off + this.peerMaxFrame);
      const last = off + this.peerMaxFrame >= block.length ? Flag.EndHeaders : 0;
      this.write(
        off === 0
          ? frame(FrameType.Headers, end | last, id, part)
          : frame(FrameType.Continuation, last, id, part),
      );
    }
  }

  /** @internal sends what the windows allow of a stream's answer, then its trailers. */
  flush(stream: H2Stream): void {
    const p = stream.pending;
    if (!p || stream.closed) return;
    while (p.data.length > 0) {
      const n = Math.min(p.data.length, this.peerMaxFrame, this.sendWindow, stream.sendWindow);
      if (n <= 0) return; // a WINDOW_UPDATE from the client resumes it
      this.write(frame(FrameType.Data, 0, stream.id, p.data.subarray(0, n)));
      p.data = p.data.subarray(n);
      this.sendWindow -= n;
      stream.sendWindow -= n;
    }
    stream.pending = null;
    this.sendHeaderBlock(stream.id, p.trailers, true);
    this.endStream(stream);
  }

  /** @internal our side of the stream has ended: forget it (a client still sending is told to stop). */
  endStream(stream: H2Stream): void {
    stream.closed = true;
    stream.onAbort = null;
    if (this.streams.get(stream.id) === stream) {
      this.streams.delete(stream.id);
      // The client's side is still open (an answer before the whole request): it need not send the rest.
      if (!stream.remoteEnded) this.write(frame(FrameType.RstStream, 0, stream.id, u32(H2Error.NoError)));
    }
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.goawaySent && this.streams.size === 0) {
      this.flushNow();
      this.socket.end();
    }
  }

  private write(b: Buffer): void {
    this.out.push(b);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Frames written in one turn of the event loop (several answers, headers + data + trailers) go out
      // in one write system call.
      process.nextTick(() => this.flushNow());
    }
  }

  private flushNow(): void {
    this.flushScheduled = false;
    if (this.out.length === 0 || this.socket.destroyed) {
      this.out = [];
      return;
    }
    const data = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out);
    this.out = [];
    this.socket.write(data);
  }

  private receive(chunk: Buffer): void {
    let buf = this.buffer ? Buffer.concat([this.buffer, chunk]) : chunk;
    this.buffer = null;
    try {
      if (!this.prefaceSeen) {
        if (buf.length < PREFACE.length) {
          if (!PREFACE.subarray(0, buf.length).equals(buf))
            throw new ConnectionFailure(H2Error.ProtocolError, 'not HTTP/2');
          this.buffer = buf;
          return;
        }
        if (!buf.subarray(0, PREFACE.length).equals(PREFACE))
          throw new ConnectionFailure(H2Error.ProtocolError, 'not the HTTP/2 connection preface');
        this.prefaceSeen = true;
        buf = buf.subarray(PREFACE.length);
      }
      let off = 0;
      while (buf.length - off >= 9) {
        const len = buf.readUIntBE(off, 3);
        if (len > DEFAULT_MAX_FRAME)
          // We never raise SETTINGS_MAX_FRAME_SIZE, so a client may not send more.
          throw new ConnectionFailure(H2Error.FrameSizeError, `frame of ${len} bytes`);
        if (buf.length - off < 9 + len) break;
        const type = buf[off + 3];
        const flags = buf[off + 4];
        const id = buf.readUInt32BE(off + 5) & 0x7fffffff;
        const payload = buf.subarray(off + 9, off + 9 + len);
        off += 9 + len;
        this.onFrame(type, flags, id, payload);
      }
      if (off < buf.length) this.buffer = buf.subarray(off);
    } catch (err) {
      const code = err instanceof ConnectionFailure ? err.code : H2Error.CompressionError;
      const payload = Buffer.allocUnsafe(8);
      payload.writeUInt32BE(this.lastStream, 0);
      payload.writeUInt32BE(code, 4);
      this.write(frame(FrameType.Goaway, 0, 0, payload));
      this.flushNow();
      this.socket.end();
      this.socket.destroySoon();
    }
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.headerBlock && type !== FrameType.Continuation)
      throw new ConnectionFailure(H2Error.ProtocolError, 'header block interrupted');
    switch (type) {
      case FrameType.Data:
        return this.onData(flags, id, payload);
      case FrameType.Headers: {
        if (id === 0 || id % 2 === 0)
          throw new ConnectionFailure(H2Error.ProtocolError, `HEADERS on stream ${id}`);
        let block = unpad(payload, flags);
        if (flags & Flag.Priority) block = block.subarray(5);
        this.headerBlock = { id, flags, parts: [block], size: block.length };
        if (flags & Flag.EndHeaders) this.endHeaders();
        return;
      }
      case FrameType.Continuation: {
        const hb = this.headerBlock;
        if (!hb || hb.id !== id)
          throw new ConnectionFailure(H2Error.ProtocolError, 'unexpected CONTINUATION');
        hb.parts.push(payload);
        hb.size += payload.length;
        if (hb.size > this.maxHeaderBlock)
          throw new ConnectionFailure(H2Error.EnhanceYourCalm, `header block over ${hb.size} bytes`);
        if (flags & Flag.EndHeaders) this.endHeaders();
        return;
      }
      case FrameType.RstStream: {
        const s = this.streams.get(id);
        if (s) {
          this.streams.delete(id);
          s.abort();
          this.endIfIdle();
        }
        return;
      }
      case FrameType.Settings:
        if (flags & Flag.Ack) return;
        if (id !== 0 || payload.length % 6 !== 0)
          throw new ConnectionFailure(H2Error.FrameSizeError, 'malformed SETTINGS');
        for (let i = 0; i < payload.length; i += 6)
          this.applySetting(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
        this.write(frame(FrameType.Settings, Flag.Ack, 0));
        return;
      case FrameType.Ping:
        if (payload.length !== 8) throw new ConnectionFailure(H2Error.FrameSizeError, 'PING of a wrong size');
        if (!(flags & Flag.Ack)) this.write(frame(FrameType.Ping, Flag.Ack, 0, payload));
        return;
      case FrameType.WindowUpdate: {
        if (payload.length !== 4)
          throw new ConnectionFailure(H2Error.FrameSizeError, 'WINDOW_UPDATE of a wrong size');
        const inc = payload.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) {
          this.sendWindow += inc;
          for (const s of this.streams.values()) if (s.pending) this.flush(s);
        } else {
          const s = this.streams.get(id);
          if (s) {
            s.sendWindow += inc;
            this.flush(s);
          }
        }
        return;
      }
      case FrameType.PushPromise:
        throw new ConnectionFailure(H2Error.ProtocolError, 'PUSH_PROMISE from a client');
      default: // PRIORITY, GOAWAY (the client stops opening streams; ours finish), unknown types
        return;
    }
  }

  private applySetting(key: number, value: number): void {
    if (key === Setting.InitialWindowSize) {
      if (value > 0x7fffffff) throw new ConnectionFailure(H2Error.FlowControlError, 'window over 2^31-1');
      const delta = value - this.peerInitialWindow;
      this.peerInitialWindow = value;
      for (const s of this.streams.values()) {
        s.sendWindow += delta;
        if (delta > 0) this.flush(s);
      }
    } else if (key === Setting.MaxFrameSize) {
      if (value < DEFAULT_MAX_FRAME || value > 0xffffff)
        throw new ConnectionFailure(H2Error.ProtocolError, `SETTINGS_MAX_FRAME_SIZE ${value}`);
      this.peerMaxFrame = value;
    }
  }

  private onData(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionFailure(H2Error.ProtocolError, 'DATA on stream 0');
    // Every DATA byte, padding included, uses the connection window, whatever became of its stream.
    this.received += payload.length;
    if (this.received >= CONNECTION_WINDOW / 2) {
      this.write(frame(FrameType.WindowUpdate, 0, 0, u32(this.received)));
      this.received = 0;
    }
    const s = this.streams.get(id);
    if (!s) return; // a stream we answered (or refused) before the client ended it
    s.receive(unpad(payload, flags), (flags & Flag.EndStream) !== 0);
  }

  private endHeaders(): void {
    const { id, flags, parts } = this.headerBlock!;
    this.headerBlock = null;
    // Decoded whatever becomes of the stream: the dynamic table is shared by the whole connection.
    const list = this.decoder.decode(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    const open = this.streams.get(id);
    if (open) {
      // Trailers from the client (gRPC clients send none): they end its side.
      if (flags & Flag.EndStream) open.receive(Buffer.alloc(0), true);
      return;
    }
    if (id <= this.lastStream) return; // a stream already closed
    this.lastStream = id;
    if (this.goawaySent || this.streams.size >= this.maxStreams) {
      this.write(frame(FrameType.RstStream, 0, id, u32(H2Error.RefusedStream)));
      return;
    }
    const stream = new H2Stream(id, new Map(list), this);
    this.streams.set(id, stream);
    this.opts.onStream(stream);
    if (flags & Flag.EndStream) stream.receive(Buffer.alloc(0), true);
  }
}

/** A listening socket whose connections speak the server side of HTTP/2. */
export class H2Server {
  private readonly server: Server;
  private readonly connections = new Set<H2Connection>();

  constructor(opts: H2ServerOptions) {
    this.server = createServer((socket) => {
      const conn = new H2Connection(socket, opts);
      this.connections.add(conn);
      void conn.closed.then(() => this.connections.delete(conn));
    });
  }

  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(path, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /**
   * Stops accepting connections and sends GOAWAY on the open ones: calls in flight are answered, no new one
   * starts. Connections still open after graceMs are destroyed.
   */
  async shutdown(graceMs: number): Promise<{ forced: boolean }> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.goaway();
    let timer: NodeJS.Timeout | undefined;
    const forced = await Promise.race([
      closed.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (forced) {
      for (const c of this.connections) c.destroy();
      await closed;
    }
    return { forced };
  }
}
