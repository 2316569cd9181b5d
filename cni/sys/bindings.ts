// Node's own bindings for a Unix socket (pipe_wrap, stream_wrap) and a synchronous child (spawn_sync), which
// node:net and node:child_process are built on. The plugin is a fresh process per pod, and loading those two
// modules (streams, event emitters, validation) is most of what it costs beyond Node's start: 30 plugins
// started at once finished 29% later than 30 `node -e 0` when they only loaded node:net, and 11% later when
// they connected and ran two `ip` processes through these bindings (cni bench, this machine).
//
// These are internal interfaces (process.binding, DEP0111), so they are used only when present in the shape
// checked here, and everything falls back to node:net and node:child_process otherwise, or when
// TIDEPOOL_PLUGIN_PUBLIC_API=1 (the tests run both ways). The shapes are those of Node 20 and 22
// (lib/net.js, lib/internal/stream_base_commons.js, lib/internal/child_process.js).

export interface StreamBinding {
  Pipe: new (type: number) => PipeHandle;
  PipeConnectWrap: new () => { oncomplete: (status: number) => void };
  SOCKET: number;
  WriteWrap: new () => WriteReq;
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}

export interface PipeHandle {
  connect(req: object, path: string): number;
  readStart(): number;
  writeBuffer(req: WriteReq, data: Buffer): number;
  close(cb?: () => void): void;
  onread: (arrayBuffer: ArrayBuffer | undefined) => void;
}

export interface WriteReq {
  handle: PipeHandle;
  oncomplete: (status: number) => void;
  async: boolean;
  buffer: Buffer | null;
}

export interface SpawnSyncBinding {
  spawn(options: object): {
    status: number | null;
    signal: string | number | null;
    output: (Buffer | null)[] | null;
    error?: number;
  };
}

type Binding = (name: string) => any;

let streams: StreamBinding | null | undefined;
let spawner: SpawnSyncBinding | null | undefined;

/** TIDEPOOL_PLUGIN_PUBLIC_API=1: node:net, node:child_process and `ip` only (no bindings, no netlink addon). */
export const publicOnly = (): boolean => process.env.TIDEPOOL_PLUGIN_PUBLIC_API === '1';

function binding(): Binding | null {
  const b = (process as unknown as { binding?: Binding }).binding;
  return typeof b === 'function' ? b : null;
}

/** The socket bindings, or null when this Node does not offer them as we know them. */
export function streamBinding(): StreamBinding | null {
  if (publicOnly()) return null;
  if (streams !== undefined) return streams;
  streams = null;
  try {
    const b = binding();
    if (!b) return null;
    const pipe = b('pipe_wrap');
    const sw = b('stream_wrap');
    const ok =
      typeof pipe?.Pipe === 'function' &&
      typeof pipe.PipeConnectWrap === 'function' &&
      typeof pipe.constants?.SOCKET === 'number' &&
      typeof pipe.Pipe.prototype.connect === 'function' &&
      typeof pipe.Pipe.prototype.readStart === 'function' &&
      typeof pipe.Pipe.prototype.writeBuffer === 'function' &&
      typeof sw?.WriteWrap === 'function' &&
      sw.streamBaseState instanceof Int32Array &&
      [sw.kReadBytesOrError, sw.kArrayBufferOffset, sw.kLastWriteWasAsync].every(
        (k) => Number.isInteger(k) && k >= 0 && k < sw.streamBaseState.length,
      );
    if (ok)
      streams = {
        Pipe: pipe.Pipe,
        PipeConnectWrap: pipe.PipeConnectWrap,
        SOCKET: pipe.constants.SOCKET,
        WriteWrap: sw.WriteWrap,
        state: sw.streamBaseState,
        kReadBytesOrError: sw.kReadBytesOrError,
        kArrayBufferOffset: sw.kArrayBufferOffset,
        kLastWriteWasAsync: sw.kLastWriteWasAsync,
      };
  } catch {
    streams = null;
  }
  return streams;
}

/** The name of a negative libuv status (-2 → ENOENT), as node:net and node:child_process report it. */
export function errnoName(status: number): string {
  try {
    return binding()!('uv').errname(status);
  } catch {
    return `errno ${-status}`;
  }
}

/** The synchronous spawn binding, or null. */
export function spawnBinding(): SpawnSyncBinding | null {
  if (publicOnly()) return null;
  if (spawner !== undefined) return spawner;
  spawner = null;
  try {
    const ss = binding()?.('spawn_sync');
    if (typeof ss?.spawn === 'function') spawner = ss as SpawnSyncBinding;
  } catch {
    spawner = null;
  }
  return spawner;
}
