// tidepool-sim: runs one sim cloud on a Unix socket (API: providers/sim/server.ts).
//
//   tidepool-sim [--socket /run/tidepool/sim.sock] [--state FILE] [--seed N]
//                [--latency none|realistic|PROFILE.json] [--latency-scale X] [--no-throttle]
//                [--vpc-cidr 10.0.0.0/16] [--subnet CIDR@ZONE[@ID] ...] [--zones a,b,c]
//                [--visibility-lag-ms N] [--detach-ms N] [--faults JSON] [--instance TYPE[@ID] ...]
//
// With --state, an existing file is restored (VPC, subnets, instances, interfaces, buckets) and the layout
// flags are ignored; without it the cloud lives only as long as the process.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SimCloud, type SimCloudOptions, type SubnetSpec } from './cloud.js';
import { validateFaults } from './faults.js';
import { startSimServer } from './server.js';
import { loadState } from './statefile.js';

function log(msg: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(
    JSON.stringify({ time: new Date().toISOString(), name: 'tidepool-sim', msg, ...fields }) + '\n',
  );
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${flag}: expected a non-negative number, got "${v}"`);
  return n;
}

function parseSimArgs(argv: string[]): {
  socket: string;
  state?: string;
  cloud: SimCloudOptions;
  instances: { instanceType: string; instanceId?: string }[];
} {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      socket: { type: 'string', default: '/run/tidepool/sim.sock' },
      state: { type: 'string' },
      seed: { type: 'string' },
      region: { type: 'string' },
      latency: { type: 'string', default: 'none' },
      'latency-scale': { type: 'string' },
      'no-throttle': { type: 'boolean', default: false },
      'vpc-cidr': { type: 'string' },
      subnet: { type: 'string', multiple: true },
      zones: { type: 'string' },
      'visibility-lag-ms': { type: 'string' },
      'detach-ms': { type: 'string' },
      faults: { type: 'string' },
      instance: { type: 'string', multiple: true },
    },
  });
  let latency: SimCloudOptions['latency'] = 'none';
  if (values.latency === 'realistic' || values.latency === 'none') latency = values.latency;
  else latency = JSON.parse(readFileSync(values.latency, 'utf8')) as SimCloudOptions['latency'];
  const subnets: SubnetSpec[] | undefined = values.subnet?.map((s) => {
    const [cidr, zone, id] = s.split('@');
    if (!cidr || !zone) throw new Error(`--subnet: expected CIDR@ZONE[@ID], got "${s}"`);
    return { cidr, zone, id };
  });
  let faults;
  if (values.faults) {
    try {
      faults = validateFaults(JSON.parse(values.faults));
    } catch (err) {
      throw new Error(`--faults: ${(err as Error).message}`);
    }
  }
  return {
    socket: values.socket!,
    state: values.state,
    cloud: {
      seed: num('seed', values.seed),
      region: values.region,
      latency,
      latencyScale: num('latency-scale', values['latency-scale']),
      throttle: !values['no-throttle'],
      vpcCidr: values['vpc-cidr'],
      subnets,
      zones: values.zones?.split(',').filter(Boolean),
      visibilityLagMs: num('visibility-lag-ms', values['visibility-lag-ms']),
      detachMs: num('detach-ms', values['detach-ms']),
      faults,
    },
    instances: (values.instance ?? []).map((s) => {
      const [instanceType, instanceId] = s.split('@');
      return { instanceType, instanceId };
    }),
  };
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parseSimArgs>;
  try {
    args = parseSimArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`tidepool-sim: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const restored = args.state ? loadState(args.state) : undefined;
  const cloud = new SimCloud({ ...args.cloud, state: restored });
  if (restored && (args.cloud.subnets || args.cloud.vpcCidr || args.cloud.zones)) {
    log('state file restored: layout flags ignored', { state: args.state });
  }
  for (const i of args.instances) {
    if (i.instanceId && cloud.topology.instances.has(i.instanceId)) continue;
    cloud.launchInstance(i);
  }
  const server = await startSimServer({ cloud, socketPath: args.socket, statePath: args.state });
  log('listening', {
    socket: args.socket,
    state: args.state ?? null,
    restored: !!restored,
    vpc: cloud.topology.vpc.cidr,
    subnets: [...cloud.topology.subnets.values()].map((s) => `${s.cidr}@${s.zone}`),
    instances: cloud.topology.instances.size,
    latency: typeof args.cloud.latency === 'string' ? args.cloud.latency : 'custom',
    throttle: args.cloud.throttle,
  });
  const stop = (signal: string) => {
    log('stopping', { signal });
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`tidepool-sim: ${(err as Error).message}\n`);
  process.exit(1);
});
