// Starts the daemon's small HTTP servers (introspection, metrics) on a host:port from the settings.
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export function splitHostPort(addr: string): { host: string; port: number } {
  const m = /^\[?(.+?)\]?:(\d{1,5})$/.exec(addr);
  if (!m) throw new Error(`${addr}: must be host:port`);
  return { host: m[1], port: Number(m[2]) };
}

export interface HttpEndpoint {
  server: Server;
  /** The address actually bound (port 0 resolves to a free port). */
  url: string;
  close(): Promise<void>;
}

export async function listenHttp(addr: string, handler: RequestListener): Promise<HttpEndpoint> {
  const { host, port } = splitHostPort(addr);
  const server = createServer(handler);
  // As the incumbent: a client that stalls does not hold a socket open for ever.
  server.requestTimeout = 5000;
  server.headersTimeout = 5000;
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    server,
    url: `http://${shownHost}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
