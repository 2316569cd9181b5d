// The demo's view of the one-machine lab (lab-port.ts), built on the lab's TypeScript API: the same
// manifest, `labUp`, `podAdd`, `podDel` and `labDown` that `tidepoolctl lab` runs, in this process, so
// pods can be added concurrently (one in-memory manifest, no lock round trips) and the pools read
// live over each daemon's gRPC socket.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonClient } from '../cni/client.js';
import { labDown } from '../lab/down.js';
import type { FabricStatus } from '../lab/fabric.js';
import { createManifest, type Manifest } from '../lab/manifest.js';
import { defaultStateDir } from '../lab/names.js';
import { binDir } from '../lab/paths.js';
import { podAdd, podDel } from '../lab/pod.js';
import { simLabCloud, simRequest, simSocket } from '../lab/sim-cloud.js';
import { labUp } from '../lab/up.js';
import { localstackLabCloud } from '../lab/localstack-cloud.js';
import { azureControl, azureLabCloud, azureSocket } from '../lab/azure-cloud.js';
import { daemonCloudCalls } from './daemon-calls.js';
import { run } from './exec.js';
import type { DemoLab, LabUpOptions, PodInfo, PoolSnapshot } from './lab-port.js';

export class LabUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabUnavailableError';
  }
}

export interface LabHandle extends DemoLab {
  readonly manifest: Manifest;
}

/** Brings up a lab with the prefix `tp-demo-<runId>-`; on failure removes whatever it had made. */
export async function bringUpLab(
  o: LabUpOptions & {
    env?: Record<string, string>;
    /** Told, before anything is made, how to remove what is made so far (a Ctrl-C during lab up). */
    onStarted?: (downSoFar: () => Promise<void>) => void;
    /** LocalStack: ['--ec2-fidelity'] puts the EC2 fidelity layer in front of it. */
    cloudArgs?: string[];
    /** 'none': no tidepool-ipamd on the nodes (the caller starts another CNI's agent). */
    daemon?: 'tidepool' | 'none';
  },
): Promise<LabHandle> {
  // LocalStack runs inside the lab (its vpc namespace), started by labUp and stopped by labDown; the
  // demo only needs it installed.
  if (o.provider === 'localstack' && !existsSync(localstackPython()))
    throw new LabUnavailableError(
      `--provider localstack needs LocalStack, not installed at ${localstackPython()}: ` +
        'run scripts/setup.sh (or bash localstack/install.sh)',
    );
  const prefix = `tp-demo-${o.runId}-`;
  const stateDir = defaultStateDir(prefix);
  const m = createManifest(stateDir, prefix, {
    nodes: o.nodes,
    instanceType: o.instanceType,
    policy: o.policy,
    provider: o.provider,
    env: o.env ?? {},
    // The sim with the EC2 latencies of cloud-api-figures.md section 7 (the lab's default has none).
    // LocalStack takes no arguments: its latency is its own.
    cloudArgs: o.cloudArgs ?? (o.provider === 'sim' ? ['--latency=realistic'] : []),
    daemon: o.daemon,
  });
  const cloud =
    o.provider === 'sim' ? simLabCloud(m) : o.provider === 'azure' ? azureLabCloud(m) : localstackLabCloud(m);
  const fabricArgv = [...labCommand(), '_fabric', '--prefix', prefix, '--state-dir', stateDir];
  o.onStarted?.(async () => {
    await labDown(m, () => {});
  });
  try {
    await labUp({ m, cloud, fabricArgv, log: (l) => o.log(`  lab: ${l}`) });
  } catch (err) {
    // The lab's logs go with the lab: keep the tail of the one the error points at.
    const logFile = /\(see (\/[^)\s]+)\)/.exec((err as Error).message)?.[1];
    if (logFile && existsSync(logFile)) {
      const tail = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-15).join('\n    ');
      (err as Error).message += `\n  last lines of ${logFile}:\n    ${tail}`;
    }
    await labDown(m, () => {});
    throw err;
  }
  return handle(m);
}

/**
 * The command line of the lab's own CLI, for its fabric controller (`… _fabric`): `tidepoolctl lab` when
 * we run bundled inside dist/bin/tidepoolctl, else lab/main.ts under the same loader (tsx) as us.
 */
export function labCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith('.ts')) {
    const ctl = join(binDir(), 'tidepoolctl');
    if (!existsSync(ctl))
      throw new LabUnavailableError(`${ctl} is missing: build Tidepool first (npm run build)`);
    return [process.execPath, ctl, 'lab'];
  }
  return [process.execPath, ...process.execArgv, resolve(dirname(here), '..', 'lab', 'main.ts')];
}

/** The LocalStack the lab runs (localstack/install.sh puts it into the repository's localstack/.venv). */
function localstackPython(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'localstack', 'install.sh')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'localstack', '.venv', 'bin', 'python');
}

function handle(m: Manifest): LabHandle {
  const clients = new Map(m.nodes.map((n) => [n.name, new DaemonClient(n.socket)]));
  const podNs = (name: string) => m.pods.find((p) => p.name === name)?.netns;
  let downOnce: Promise<void> | undefined;
  return {
    manifest: m,
    nodes: m.nodes.map((n) => n.name),
    cloudName: m.options.provider === 'sim' ? 'sim' : m.options.provider === 'azure' ? 'Azure' : 'LocalStack',
    prefix: m.prefix,
    stateDir: m.stateDir,
    async addPod(node: string, name: string): Promise<PodInfo> {
      const pod = await podAdd(m, node, name);
      return { node, name, address: pod.address ?? '', deviceNumber: deviceOf(m, pod.address ?? '') };
    },
    async delPod(node: string, name: string): Promise<void> {
      await podDel(m, node, name);
    },
    async pool(node: string): Promise<PoolSnapshot> {
      const s = await clients.get(node)!.call('Status', {}, 2000);
      const inst = m.nodes.find((n) => n.name === node)!.instanceId;
      const interfaces = fabric(m).filter((i) => i.instanceId === inst).length;
      return {
        free: s.free,
        assigned: s.assigned,
        cooling: s.cooling,
        total: s.total,
        capacity: s.capacity,
        interfaces,
        parked: 0,
      };
    },
    async cloudCalls(): Promise<Record<string, number>> {
      if (m.options.provider === 'sim') return simCallCounts(m);
      // The ARM double serves only the daemons (the lab's own reads use its control API).
      if (m.options.provider === 'azure')
        return (await azureControl<{ requests: Record<string, number> }>(azureSocket(m), 'GET', '/counts'))
          .requests;
      return daemonCloudCalls(m.nodes.map((n) => n.netns));
    },
    async ping(fromPod: string, address: string): Promise<boolean> {
      const ns = podNs(fromPod);
      if (!ns) return false;
      const r = await run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', address], {
        allowFailure: true,
      });
      return r.code === 0;
    },
    down(): Promise<void> {
      downOnce ??= (async () => {
        for (const c of clients.values()) c.close();
        const errors = await labDown(m, () => {});
        if (errors.length) throw new Error(errors.join('; '));
      })();
      return downOnce;
    },
  };
}

function fabric(m: Manifest): FabricStatus['interfaces'] {
  const file = join(m.stateDir, 'fabric.json');
  if (!existsSync(file)) return [];
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as FabricStatus).interfaces;
  } catch {
    return []; // being rewritten
  }
}

/** Device number of the interface the fabric routes `address` to. */
export function deviceOf(m: Manifest, address: string): number | undefined {
  return fabric(m).find((i) => i.addresses.includes(address))?.deviceNumber;
}

/** EC2 calls the lab's sim has served, by action (its GET /calls). */
async function simCallCounts(m: Manifest): Promise<Record<string, number>> {
  const r = await simRequest<{ stats: Record<string, { calls: number }> }>(simSocket(m), 'GET', '/calls');
  return Object.fromEntries(Object.entries(r.stats).map(([action, st]) => [action, st.calls]));
}
