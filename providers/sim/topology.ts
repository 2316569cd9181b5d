// What the sim cloud holds: the VPC, its subnets (with their address pools), instances and interfaces,
// and the ids it mints. Persisted as JSON (SimStateJson) so the cloud outlives any one process.

import { cidrContains, intToIp, parseCidr } from '../../config/net.js';
import type { InstanceRecord, InterfaceRecord, SimStateJson, SubnetRecord } from './model.js';
import type { SeededRandom } from './random.js';
import { SubnetPool } from './subnet.js';

export interface SubnetSpec {
  cidr: string;
  zone: string;
  id?: string;
  tags?: Record<string, string>;
}

export const DEFAULT_VPC_CIDR = '10.0.0.0/16';
export const DEFAULT_ZONES = ['us-east-1a', 'us-east-1b', 'us-east-1c'];

export class SimTopology {
  region = 'us-east-1';
  vpc = { id: '', cidr: DEFAULT_VPC_CIDR, defaultSecurityGroup: '' };
  readonly subnets = new Map<string, SubnetRecord>();
  readonly pools = new Map<string, SubnetPool>();
  readonly instances = new Map<string, InstanceRecord>();
  readonly interfaces = new Map<string, InterfaceRecord>();
  /** CreateNetworkInterface ClientToken → interface id (EC2 idempotency). */
  readonly tokens = new Map<string, string>();

  private constructor(private readonly rng: SeededRandom) {}

  static create(
    opts: { region?: string; vpcCidr?: string; subnets?: SubnetSpec[]; zones?: string[] },
    rng: SeededRandom,
  ): SimTopology {
    const t = new SimTopology(rng);
    t.region = opts.region ?? 'us-east-1';
    const cidr = opts.vpcCidr ?? DEFAULT_VPC_CIDR;
    t.vpc = { id: t.newId('vpc-'), cidr, defaultSecurityGroup: t.newId('sg-') };
    const specs = opts.subnets ?? defaultSubnets(cidr, opts.zones ?? DEFAULT_ZONES);
    if (specs.length === 0) throw new Error('sim: a VPC needs at least one subnet');
    validateSubnets(cidr, specs);
    for (const s of specs) {
      const rec: SubnetRecord = {
        id: s.id ?? t.newId('subnet-'),
        cidr: s.cidr,
        zone: s.zone,
        tags: s.tags ?? {},
      };
      if (t.subnets.has(rec.id)) throw new Error(`sim: duplicate subnet id ${rec.id}`);
      t.subnets.set(rec.id, rec);
      t.pools.set(rec.id, new SubnetPool(rec.cidr));
    }
    return t;
  }

  static restore(st: SimStateJson, rng: SeededRandom): SimTopology {
    if (st.format !== 'tidepool-sim/1') throw new Error(`sim state: unknown format ${String(st.format)}`);
    const t = new SimTopology(rng);
    t.region = st.region;
    t.vpc = { ...st.vpc };
    for (const s of st.subnets) {
      t.subnets.set(s.id, { ...s });
      t.pools.set(s.id, new SubnetPool(s.cidr));
    }
    for (const i of st.instances) t.instances.set(i.id, { ...i });
    for (const j of st.interfaces) {
      const rec: InterfaceRecord = {
        ...j,
        addresses: new Map(j.addresses),
        prefixes: new Map(j.prefixes),
        released: [],
      };
      const pool = t.pools.get(rec.subnetId);
      if (!pool) throw new Error(`sim state: interface ${rec.id} is in unknown subnet ${rec.subnetId}`);
      for (const a of [rec.primaryAddress, ...rec.addresses.keys()]) {
        if (!pool.take(a)) throw new Error(`sim state: address ${a} of ${rec.id} is held twice or reserved`);
      }
      for (const p of rec.prefixes.keys()) {
        if (!pool.takePrefix(p)) throw new Error(`sim state: prefix ${p} of ${rec.id} overlaps another`);
      }
      t.interfaces.set(rec.id, rec);
      if (rec.clientToken) t.tokens.set(rec.clientToken, rec.id);
    }
    return t;
  }

  toJSON(): Omit<SimStateJson, 'rng' | 'buckets' | 'eventSeq'> {
    return {
      format: 'tidepool-sim/1',
      region: this.region,
      vpc: { ...this.vpc },
      subnets: [...this.subnets.values()],
      instances: [...this.instances.values()],
      interfaces: [...this.interfaces.values()].map((r) => {
        // eslint-disable-next-line @typescript-eslint/no-unused-vars
        const { released, addresses, prefixes, ...rest } = r;
        return { ...rest, addresses: [...addresses], prefixes: [...prefixes] };
      }),
    };
  }

  /** A fresh EC2-style id: prefix + 17 hex digits, unique within this cloud. */
  newId(prefix: string): string {
    for (;;) {
      const id = prefix + this.rng.hex(17);
      if (!this.subnets.has(id) && !this.instances.has(id) && !this.interfaces.has(id)) return id;
    }
  }

  /** A locally administered unicast MAC, as EC2 hands out (02:xx:…). */
  newMac(): string {
    const taken = new Set([...this.interfaces.values()].map((i) => i.mac));
    for (;;) {
      const h = this.rng.hex(10);
      const mac = ['02', ...h.match(/../g)!].join(':');
      if (!taken.has(mac)) return mac;
    }
  }

  subnet(id: string): { rec: SubnetRecord; pool: SubnetPool } | undefined {
    const rec = this.subnets.get(id);
    const pool = this.pools.get(id);
    return rec && pool ? { rec, pool } : undefined;
  }

  /** Interfaces attached (or detaching) to an instance, as the cloud holds them now. */
  attachedTo(instanceId: string): InterfaceRecord[] {
    const out: InterfaceRecord[] = [];
    for (const i of this.interfaces.values()) {
      if (i.attachment?.instanceId === instanceId || i.detaching?.instanceId === instanceId) out.push(i);
    }
    return out;
  }
}

/** One /20 per zone from the start of the VPC (smaller when the VPC cannot hold that many /20s). */
export function defaultSubnets(vpcCidr: string, zones: string[]): SubnetSpec[] {
  const vpc = parseCidr(vpcCidr);
  const bits = Math.max(20, vpc.bits + Math.ceil(Math.log2(Math.max(1, zones.length))));
  if (bits > 28) throw new Error(`sim: VPC ${vpcCidr} is too small for ${zones.length} subnets`);
  const size = 2 ** (32 - bits);
  return zones.map((zone, i) => ({ cidr: `${intToIp(vpc.base + i * size)}/${bits}`, zone }));
}

/** Checks a subnet layout against the VPC: inside it, no overlap, AWS's /16–/28 sizes. */
export function validateSubnets(vpcCidr: string, subnets: SubnetSpec[]): void {
  const vpc = parseCidr(vpcCidr);
  const seen: SubnetPool[] = [];
  for (const s of subnets) {
    const c = parseCidr(s.cidr);
    if (c.bits < 16 || c.bits > 28) throw new Error(`subnet ${s.cidr}: size must be between /16 and /28`);
    if (c.bits < vpc.bits || !cidrContains(vpcCidr, s.cidr.split('/')[0])) {
      throw new Error(`subnet ${s.cidr} is not inside the VPC ${vpcCidr}`);
    }
    for (const o of seen) {
      if (c.base < o.base + o.size && o.base < c.base + c.size) {
        throw new Error(`subnet ${s.cidr} overlaps subnet ${o.cidr}`);
      }
    }
    seen.push(new SubnetPool(s.cidr));
  }
}
