// The demo's command line: `tidepoolctl demo [options]` (npm run demo -- [options]).
import { instanceLimits, isKnownInstanceType, maxPods } from '../providers/capacity.js';
import { isKnownVmSize, vmLimits } from '../providers/azure/limits.js';

export interface DemoOptions {
  nodes: number;
  /** Pods in total, spread evenly over the nodes. */
  pods: number;
  instanceType: string;
  policy: 'aws-compatible' | 'adaptive';
  provider: 'sim' | 'localstack' | 'azure';
  /** The demo on the cluster lab (kubelets, the chart's DaemonSet, a Deployment). */
  kubernetes: boolean;
  /** Plain lines even on a terminal. */
  plain: boolean;
  help: boolean;
}

export const USAGE = `tidepoolctl demo — Tidepool on one machine, in about a minute (run as root)

Brings up the one-machine lab (a VPC fabric, nodes, one Tidepool daemon per node on the embedded cloud
with realistic EC2 latency), starts pods in waves through the real CNI plugin while showing each node's
address pool fill, drain and refill, pings every pod from a pod on another node, prints a summary, and
removes everything it made on exit (Ctrl-C included).

Options:
  --nodes N            nodes in the lab (default 2, at most 8)
  --pods N             pods in total, spread over the nodes (default 24)
  --instance-type T    EC2 instance type of the nodes (default m5.large; on Azure a VM size,
                       default Standard_D4s_v5)
  --policy P           pool policy: aws-compatible (default) or adaptive
  --provider P         sim (default, the embedded cloud), localstack, or azure (the daemons on the
                       Azure provider against the lab's ARM and IMDS doubles)
  --kubernetes         on a real cluster instead: a control plane, a containerd and kubelet per node,
                       Tidepool installed with its Helm chart, a Deployment of the pods (default 10)
                       scaled up in two steps, HTTP between pods of different nodes and to the internet
  --plain              plain lines instead of the live display, even on a terminal
  -h, --help           this text

Exit codes: 0 every pod addressed and reachable; 1 a pod failed; 2 bad usage; 69 a tool or the
provider is missing; 77 not root; 130 interrupted.`;

export class DemoUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DemoUsageError';
  }
}

const DEFAULTS: DemoOptions = {
  nodes: 2,
  pods: 24,
  instanceType: 'm5.large',
  policy: 'aws-compatible',
  provider: 'sim',
  kubernetes: false,
  plain: false,
  help: false,
};

export function parseDemoArgs(argv: string[]): DemoOptions {
  const o = { ...DEFAULTS };
  let podsGiven = false;
  let typeGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new DemoUsageError(`${flag} needs a value`);
      return v;
    };
    const count = (min: number, max: number): number => {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
        throw new DemoUsageError(`${flag} must be a whole number from ${min} to ${max} (got "${v}")`);
      return Number(v);
    };
    switch (flag) {
      case '--nodes':
        o.nodes = count(1, 8);
        break;
      case '--pods':
        o.pods = count(1, 500);
        podsGiven = true;
        break;
      case '--kubernetes':
        o.kubernetes = true;
        break;
      case '--instance-type':
        o.instanceType = value();
        typeGiven = true;
        if (
          !/^[a-z0-9-]+\.[a-z0-9-]+$/.test(o.instanceType) &&
          !/^Standard_[A-Za-z0-9_]+$/.test(o.instanceType)
        )
          throw new DemoUsageError(
            `--instance-type must look like m5.large or Standard_D4s_v5 (got "${o.instanceType}")`,
          );
        break;
      case '--policy': {
        const v = value();
        if (v !== 'aws-compatible' && v !== 'adaptive')
          throw new DemoUsageError(`--policy must be aws-compatible or adaptive (got "${v}")`);
        o.policy = v;
        break;
      }
      case '--provider': {
        const v = value();
        if (v !== 'sim' && v !== 'localstack' && v !== 'azure')
          throw new DemoUsageError(`--provider must be sim, localstack or azure (got "${v}")`);
        o.provider = v;
        break;
      }
      case '--plain':
        o.plain = true;
        break;
      case '-h':
      case '--help':
        o.help = true;
        break;
      default:
        throw new DemoUsageError(`unknown option "${arg}"`);
    }
  }
  if (o.kubernetes && !podsGiven) o.pods = 10;
  if (o.kubernetes && o.provider !== 'sim')
    throw new DemoUsageError(`--kubernetes runs on the embedded cloud only (no --provider ${o.provider})`);
  if (o.provider === 'azure' && !typeGiven) o.instanceType = 'Standard_D4s_v5';
  if (o.provider === 'azure' ? !isKnownVmSize(o.instanceType) : !isKnownInstanceType(o.instanceType))
    throw new DemoUsageError(
      o.provider === 'azure'
        ? `--instance-type ${o.instanceType} is not an Azure VM size Tidepool knows (Standard_D<n>[s]_v5)`
        : `--instance-type ${o.instanceType} is not an EC2 instance type Tidepool knows`,
    );
  // Each node runs at most its max pods minus the two host-network DaemonSets (reference 3.10).
  const limits = o.provider === 'azure' ? vmLimits(o.instanceType, 1) : instanceLimits(o.instanceType);
  const perNode = maxPods(limits, { prefixDelegation: false }) - 2;
  if (Math.ceil(o.pods / o.nodes) > perNode)
    throw new DemoUsageError(
      `--pods ${o.pods} on ${o.nodes} ${o.instanceType} node(s) is more than they hold ` +
        `(${perNode} pods each): use at most ${perNode * o.nodes} pods, more nodes or a larger type`,
    );
  return o;
}
