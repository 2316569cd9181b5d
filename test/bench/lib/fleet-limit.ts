// The physical limit of a fleet scale-out: how soon the account's token buckets alone let the work be
// done, whatever the daemons do. Each node needs at least these calls (cloud-api-figures.md 1.3, 7):
// - secondary-IP mode: one AssignPrivateIpAddresses filling the primary interface, then, for the pods
//   beyond it, one CreateNetworkInterface (its addresses requested inline) and one
//   AttachNetworkInterface per further interface;
// - prefix mode: one AssignPrivateIpAddresses with the /28 count the pods need, on the primary interface.
// Calls are released when the node joins (an attach once its create has answered), take one token of
// their action's account bucket in release order as soon as one is there, and answer after the action's
// median latency. The limit is when the last node's last call answers, from the start of the scale-out.
// Nothing else (describes, warm pools, retries) is counted: the limit is a floor no run can beat.
import { DEFAULT_BUCKETS, REALISTIC_LATENCY, type Ec2Action } from '../../../providers/sim/actions.js';
import { TokenBucket } from '../../../providers/token-bucket.js';

export interface LimitInput {
  /** Join time of every node, ms from the start. */
  joins: number[];
  podsPerNode: number;
  /** IPv4 slots per interface (AWS IPv4Limit), the primary's included. */
  ipv4PerInterface: number;
  prefixMode: boolean;
}

export interface LimitResult {
  ms: number;
  calls: Partial<Record<Ec2Action, number>>;
}

/** Grants one token per request, in release order; returns the grant times in the input's order. */
function grant(action: Ec2Action, releases: number[]): number[] {
  const bucket = new TokenBucket(DEFAULT_BUCKETS[action], 0);
  const order = releases.map((at, i) => ({ at, i })).sort((a, b) => a.at - b.at || a.i - b.i);
  const out = new Array<number>(releases.length);
  let t = 0;
  for (const r of order) {
    t = Math.max(t, r.at);
    t += bucket.waitMs(t);
    bucket.take(t);
    out[r.i] = t;
  }
  return out;
}

const median = (a: Ec2Action) => REALISTIC_LATENCY[a].medianMs;

export function bucketLimit(o: LimitInput): LimitResult {
  const slots = o.ipv4PerInterface - 1;
  const assigns = grant('AssignPrivateIpAddresses', o.joins);
  let done = assigns.map((t) => t + median('AssignPrivateIpAddresses'));
  const calls: LimitResult['calls'] = { AssignPrivateIpAddresses: o.joins.length };
  const extraInterfaces = o.prefixMode ? 0 : Math.max(0, Math.ceil((o.podsPerNode - slots) / slots));
  if (extraInterfaces > 0) {
    const owner = o.joins.flatMap((_, n) => Array.from({ length: extraInterfaces }, () => n));
    const creates = grant(
      'CreateNetworkInterface',
      owner.map((n) => o.joins[n]),
    );
    const attaches = grant(
      'AttachNetworkInterface',
      creates.map((t) => t + median('CreateNetworkInterface')),
    );
    done = done.map((t, n) =>
      Math.max(
        t,
        ...attaches.filter((_, k) => owner[k] === n).map((a) => a + median('AttachNetworkInterface')),
      ),
    );
    calls.CreateNetworkInterface = owner.length;
    calls.AttachNetworkInterface = owner.length;
  }
  return { ms: Math.max(...done), calls };
}
