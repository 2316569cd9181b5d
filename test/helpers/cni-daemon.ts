// A daemon for the plugin's e2e tests. TEMPORARY: the daemon's real gRPC server (ipamd/server.ts) on a Unix
// socket with the small in-memory Ipam; replaced by the real daemon on the sim provider once it lands.
import { join } from 'node:path';
import { pino } from 'pino';
import { IpamServer } from '../../ipamd/server.js';
import { MemoryIpam } from './memory-ipam.js';
import type { Netns } from './netns.js';

export interface CniDaemon {
  socket: string;
  /** Addresses assigned to pods now, sorted. */
  allocations(): Promise<string[]>;
  allocateCalls(): number;
  stop(): Promise<void>;
  /** Starts it again after stop(), on the same socket and with the same state. */
  start(): Promise<void>;
}

export async function startCniDaemon(_host: Netns, dir: string): Promise<CniDaemon> {
  const ipam = new MemoryIpam(Array.from({ length: 20 }, (_, i) => `10.0.1.${10 + i}`));
  let calls = 0;
  const allocate = ipam.allocate.bind(ipam);
  ipam.allocate = (k, p) => (calls++, allocate(k, p));
  const make = () =>
    new IpamServer({
      ipam,
      logger: pino({ level: 'silent' }),
      podMtu: 9001,
      vpcCidrs: () => ['10.0.0.0/16'],
    });
  let server = make();
  const socket = join(dir, 'ipamd.sock');
  await server.listen(socket);
  return {
    socket,
    allocations: async () => [...ipam.allocations.values()].map((a) => a.address).sort(),
    allocateCalls: () => calls,
    stop: async () => void (await server.shutdown(200)),
    start: async () => {
      server = make();
      await server.listen(socket);
    },
  };
}
