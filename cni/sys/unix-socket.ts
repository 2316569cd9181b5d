// A connected Unix stream socket for the plugin's HTTP/2 client, on node:net (imported on first use). Writes
// made before the connection completes are queued by node:net, in order.

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

export async function connectUnix(path: string, on: SocketEvents): Promise<ByteStream> {
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
