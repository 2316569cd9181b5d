// The real daemon for the plugin's e2e tests and benchmark: dist/bin/tidepool-ipamd on the sim provider
// (test/helpers/daemon.ts TestNode), started INSIDE the test's host namespace with
// TIDEPOOL_MANAGE_HOST_NETWORK=false, so nothing it does reaches the root namespace. The plugin reaches it
// over its Unix socket; introspection and metrics listen on the namespace's loopback and are read with curl
// run in the namespace.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, Proc, TestNode } from './daemon.js';
import { IpamClient } from './ipam-client.js';
import type { Netns } from './netns.js';

export interface CniDaemon {
  socket: string;
  node: TestNode;
  /** Addresses assigned to pods now, sorted (introspection /v1/allocations). */
  allocations(): Promise<string[]>;
  /** The route table of the interface that owns each assigned address (254 = primary). */
  routeTables(): Promise<Map<string, number>>;
  /** Allocate calls the daemon has served since it started (its metrics). */
  allocateCalls(): Promise<number>;
  /** Stops the daemon (SIGTERM); start() brings it back on the same socket and state. */
  stop(): Promise<void>;
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

export interface CniDaemonOptions {
  /** Pool settings and the like (e.g. WARM_IP_TARGET). */
  env?: Record<string, string>;
  instanceType?: string;
}

export async function startCniDaemon(host: Netns, opts: CniDaemonOptions = {}): Promise<CniDaemon> {
  const node = await TestNode.create({
    start: false,
    instanceType: opts.instanceType,
    env: { WARM_IP_TARGET: '8', MINIMUM_IP_TARGET: '8', IP_COOLDOWN_PERIOD: '30', ...opts.env },
  });
  const d = node.daemon;
  // As DaemonProcess.spawn, but under `ip netns exec`: the daemon's network namespace is the test's host.
  d.spawn = () => {
    d.starts++;
    const fd = openSync(join(node.dir, 'daemon.log'), 'a');
    const child = spawn('ip', ['netns', 'exec', host.name, process.execPath, BIN.daemon], {
      env: d.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    d.proc = new Proc(child, join(node.dir, 'daemon.log'));
    return d.proc;
  };
  const curl = async (url: string) => {
    const r = await host.exec(['curl', '-sf', '--max-time', '5', url]);
    if (r.code !== 0) throw new Error(`curl ${url} in ${host.name}: exit ${r.code}`);
    return r.stdout;
  };
  const waitWarm = async () => {
    const client = new IpamClient(d.socket);
    try {
      for (let i = 0; i < 300; i++) {
        const s = await client.status(2000);
        if (s.free >= 1) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('the daemon never had a free address');
    } finally {
      client.close();
    }
  };
  try {
    await d.start();
    await waitWarm();
  } catch (err) {
    await node.cleanup();
    throw err;
  }
  return {
    socket: d.socket,
    node,
    allocations: async () => {
      const list = JSON.parse(await curl(`${d.introspectionUrl}/v1/allocations`)) as { address: string }[];
      return list.map((a) => a.address).sort();
    },
    routeTables: async () => {
      const list = JSON.parse(await curl(`${d.introspectionUrl}/v1/allocations`)) as {
        address: string;
        routeTable: number;
      }[];
      return new Map(list.map((a) => [a.address, a.routeTable]));
    },
    allocateCalls: async () => {
      const text = await curl(`${d.metricsUrl}/metrics`);
      return Number(/^tidepool_allocate_duration_seconds_count(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
    },
    stop: async () => void (await d.proc.stop()),
    start: async () => {
      await d.start();
      await waitWarm();
    },
    cleanup: () => node.cleanup(),
  };
}
