// The lab on the embedded cloud: one sim server process (dist/bin/tidepool-sim) for the lab's VPC, on a
// Unix socket in the lab's state directory; instances launched through its admin API; the fabric follows
// its event stream. The snapshot (GET /state) carries the seq of its last event, and the stream resumes
// right after it (GET /events?since=<seq>), so no change falls between the two.
import { request } from 'node:http';
import { join } from 'node:path';
import type { LabCloud, LaunchedInstance } from './cloud.js';
import type { FabricEvent, FabricEventSource, InterfaceSnapshot } from './events.js';
import type { Manifest } from './manifest.js';
import { binary } from './paths.js';
import { unixJson, UnixJsonError, untilAnswers } from './unix-json.js';

/** One JSON request to the sim server over its Unix socket. */
export function simRequest<T = any>(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  return unixJson<T>(socketPath, method, path, body, {
    server: 'sim',
    errorMessage: (json) => json?.error?.message,
  });
}

interface SimInterfaceView {
  id: string;
  mac: string;
  subnetCidr: string;
  primaryAddress: string;
  addresses: string[];
  prefixes: string[];
  attachment?: { instanceId: string; deviceIndex: number };
}

export function simSocket(m: Manifest): string {
  return join(m.stateDir, 'sim.sock');
}

export class SimEventSource implements FabricEventSource {
  readonly name: string;
  constructor(private readonly socketPath: string) {
    this.name = `sim at ${socketPath}`;
  }

  async run(
    onSnapshot: (interfaces: InterfaceSnapshot[]) => Promise<void>,
    onEvent: (e: FabricEvent) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    const state = await simRequest<{ interfaces: SimInterfaceView[]; eventSeq: number }>(
      this.socketPath,
      'GET',
      '/state',
    );
    await onSnapshot(
      state.interfaces
        .filter((i) => i.attachment)
        .map((i) => ({
          instanceId: i.attachment!.instanceId,
          interfaceId: i.id,
          mac: i.mac,
          deviceNumber: i.attachment!.deviceIndex,
          subnetCidr: i.subnetCidr,
          primaryAddress: i.primaryAddress,
          addresses: i.addresses,
          prefixes: i.prefixes,
        })),
    );
    await this.follow(state.eventSeq, onEvent, signal);
  }

  /** Streams /events?since=seq, handing each event to onEvent in order (one at a time). */
  private follow(
    since: number,
    onEvent: (e: FabricEvent) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      let chain = Promise.resolve();
      let buf = '';
      const req = request(
        { socketPath: this.socketPath, method: 'GET', path: `/events?since=${since}` },
        (res) => {
          if (res.statusCode !== 200) {
            reject(new UnixJsonError(res.statusCode ?? 500, `sim GET /events: status ${res.statusCode}`));
            res.resume();
            return;
          }
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (!line) continue;
              const e = toFabricEvent(JSON.parse(line));
              if (e)
                chain = chain.then(() => onEvent(e)).catch((err) => (req.destroy(err as Error), undefined));
            }
          });
          res.on('end', () => void chain.then(() => resolve()));
          res.on('error', reject);
        },
      );
      req.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
      signal.addEventListener('abort', () => req.destroy(), { once: true });
      req.end();
    });
  }
}

/** A sim event as the fabric sees it; undefined for events that change nothing on the wire (pings). */
export function toFabricEvent(e: any): FabricEvent | undefined {
  switch (e?.type) {
    case 'instance-launched':
      return {
        type: 'interface-attached',
        instanceId: e.instanceId,
        interfaceId: e.primaryInterfaceId,
        mac: e.mac,
        deviceNumber: 0,
        subnetCidr: e.subnetCidr,
        primaryAddress: e.primaryAddress,
      };
    case 'instance-terminated':
      return { type: 'instance-terminated', instanceId: e.instanceId };
    case 'interface-attached':
    case 'interface-detached':
    case 'addresses-assigned':
    case 'addresses-released': {
      const { seq: _s, at: _a, ...rest } = e;
      return rest as FabricEvent;
    }
    default:
      return undefined;
  }
}

export function simLabCloud(m: Manifest): LabCloud {
  const socket = simSocket(m);
  return {
    provider: 'sim',
    processes: () => [
      {
        name: 'sim',
        argv: [
          binary('sim'),
          '--socket',
          socket,
          '--state',
          join(m.stateDir, 'sim-state.json'),
          ...(m.options.cloudArgs ?? []),
        ],
        env: { TIDEPOOL_SIM_ENDPOINT: socket },
        ready: () =>
          untilAnswers(
            () => simRequest(socket, 'GET', '/healthz'),
            15_000,
            100,
            (e) => new Error(`the sim server did not answer on ${socket} (${e.message}; see sim.log)`),
          ),
      },
    ],
    vpcCidrs: async () => {
      const st = await simRequest<{ vpc: { cidr: string } }>(socket, 'GET', '/state');
      return [st.vpc.cidr];
    },
    launchInstance: async (instanceType: string): Promise<LaunchedInstance> => {
      const v = await simRequest(socket, 'POST', '/instances', { instanceType });
      return {
        instanceId: v.id,
        instanceType: v.type,
        primaryInterfaceId: v.primaryInterfaceId,
        primaryAddress: v.primaryAddress,
        mac: v.primaryMac,
        subnetCidr: v.subnetCidr,
        zone: v.zone,
      };
    },
    daemonEnv: (instanceId: string) => ({
      TIDEPOOL_PROVIDER: 'sim',
      TIDEPOOL_SIM_ENDPOINT: socket,
      TIDEPOOL_SIM_INSTANCE_ID: instanceId,
    }),
    eventSource: () => new SimEventSource(socket),
  };
}
