// A connected Unix stream socket for the plugin's HTTP/2 client. In the plugin, a blocking one on its addon
// (netlink.ts): a call then never enters the event loop. Elsewhere, or without the addon, an asynchronous one:
// on the pipe binding when this Node has it (bindings.ts), else on node:net; writes made before the
// connection completes are queued.

import { errnoName, streamBinding, type PipeHandle, type StreamBinding } from './bindings.js';
import { blockingUnix } from './netlink.js';

export interface SocketEvents {
  data(chunk: Buffer): void;
  /** The connection failed or broke: an errno name (ENOENT, ECONNREFUSED, EACCES, EPIPE...). */
  error(code: string): void;
  /** The peer closed the connection (or it was closed after an error). Called once. */
  close(): void;
}

export interface ByteStream {
  write(data: Buffer): void;
  destroy(): void;
}

const UV_EOF = -4095;

export interface BlockingStream {
  /** Throws an Error whose `code` names the errno. */
  write(data: Buffer): void;
  /** What arrived within `timeoutMs`: a Buffer, an empty Buffer once the peer closed, or null. */
  read(timeoutMs: number): Buffer | null;
  destroy(): void;
}

/**
 * A blocking socket on the plugin's addon, or null when there is none (the caller goes asynchronous).
 * Throws an Error whose `code` names the errno when the connection fails (ETIMEDOUT: no room in the
 * listener's backlog within `timeoutMs`).
 */
export function connectBlocking(path: string, timeoutMs: number): BlockingStream | null {
  const unix = blockingUnix();
  if (!unix) return null;
  let fd = unix.unixConnect(path, Math.max(1, Math.ceil(timeoutMs)));
  return {
    write: (data) => {
      if (fd < 0) throw Object.assign(new Error('socket closed'), { code: 'EPIPE' });
      unix.unixWrite(fd, data);
    },
    read: (ms) => (fd < 0 ? Buffer.alloc(0) : unix.unixRead(fd, Math.max(0, Math.ceil(ms)))),
    destroy: () => {
      // Once only: the number could name another file after it is closed.
      if (fd >= 0) unix.unixClose(fd);
      fd = -1;
    },
  };
}

export async function connectUnix(path: string, on: SocketEvents): Promise<ByteStream> {
  const b = streamBinding();
  return b ? new PipeStream(b, path, on) : connectWithNet(path, on);
}

class PipeStream implements ByteStream {
  private readonly handle: PipeHandle;
  private queue: Buffer[] | null = [];
  private closed = false;

  constructor(
    private readonly b: StreamBinding,
    path: string,
    private readonly on: SocketEvents,
  ) {
    this.handle = new b.Pipe(b.SOCKET);
    this.handle.onread = (ab) => this.onRead(ab);
    const req = new b.PipeConnectWrap();
    req.oncomplete = (status) => {
      if (this.closed) return;
      if (status < 0) return this.fail(status);
      const err = this.handle.readStart();
      if (err < 0) return this.fail(err);
      const queued = this.queue ?? [];
      this.queue = null;
      if (queued.length) this.write(queued.length === 1 ? queued[0] : Buffer.concat(queued));
    };
    const err = this.handle.connect(req, path);
    if (err < 0) queueMicrotask(() => this.fail(err));
  }

  write(data: Buffer): void {
    if (this.closed) return;
    if (this.queue) {
      this.queue.push(data);
      return;
    }
    const req = new this.b.WriteWrap();
    req.handle = this.handle;
    req.async = false;
    req.buffer = null;
    req.oncomplete = (status) => {
      req.buffer = null;
      if (status < 0) this.fail(status);
    };
    const err = this.handle.writeBuffer(req, data);
    if (err < 0) return this.fail(err);
    // An asynchronous write owns its buffer until it completes.
    if (this.b.state[this.b.kLastWriteWasAsync]) req.buffer = data;
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }

  private onRead(ab: ArrayBuffer | undefined): void {
    const n = this.b.state[this.b.kReadBytesOrError];
    if (n > 0 && ab) {
      this.on.data(Buffer.from(ab, this.b.state[this.b.kArrayBufferOffset], n));
      return;
    }
    if (n === 0) return;
    if (n === UV_EOF) {
      this.destroy();
      this.on.close();
      return;
    }
    this.fail(n);
  }

  private fail(status: number): void {
    if (this.closed) return;
    this.on.error(errnoName(status));
    this.destroy();
    this.on.close();
  }
}

async function connectWithNet(path: string, on: SocketEvents): Promise<ByteStream> {
  const net = await import('node:net');
  const socket = net.connect(path);
  socket.on('data', (chunk: Buffer) => on.data(chunk));
  socket.on('error', (err: NodeJS.ErrnoException) => on.error(err.code ?? err.message));
  socket.on('close', () => on.close());
  return {
    write: (data) => void socket.write(data),
    destroy: () => socket.destroy(),
  };
}
