// The cloud-side state shared by the sim's EC2 actions: lookups with EC2's NotFound codes, completion of
// detaches, removal of interfaces, the events streamed to the lab, and instance launch/terminate (admin).

import { instanceLimits } from '../capacity.js';
import { NotFoundError, SubnetFullError } from '../errors.js';
import type { InterfaceFilter } from './api.js';
import type { Clock } from '../clock.js';
import type { InstanceRecord, InterfaceRecord, InterfaceView, SimEventBody } from './model.js';
import type { SeededRandom } from './random.js';
import type { SimTopology } from './topology.js';
import { describeInterface, isVisible } from './views.js';

export interface Ec2Timing {
  visibilityLagMs: number;
  detachMs: number;
}

/**
 * What the EC2 actions need of the cloud that holds them (SimCloud): its state, clock and randomness, the
 * event stream, and `run`, which applies an action under the cloud's throttling, latency and faults.
 */
export interface Ec2Host {
  readonly topology: SimTopology;
  readonly clock: Clock;
  readonly rng: SeededRandom;
  emit(body: SimEventBody): void;
  touch(): void;
  run<T>(action: string, effect: () => T, opts?: { bucketKey?: string; instanceId?: string }): Promise<T>;
}

export class Ec2State {
  constructor(
    protected readonly cloud: Ec2Host,
    readonly timing: Ec2Timing,
  ) {}

  protected get topo() {
    return this.cloud.topology;
  }

  protected now(): number {
    return this.cloud.clock.now();
  }

  // ---- admin: instances ----

  launch(req: {
    instanceType: string;
    instanceId?: string;
    subnetId?: string;
    zone?: string;
    securityGroups?: string[];
  }): InstanceRecord {
    instanceLimits(req.instanceType); // throws UnknownInstanceTypeError with a clear message
    if (req.instanceId !== undefined && !/^i-[A-Za-z0-9-]{1,40}$/.test(req.instanceId)) {
      throw new Error(`sim: instance id "${req.instanceId}" must look like i-<letters, digits, dashes>`);
    }
    if (req.instanceId && this.topo.instances.has(req.instanceId))
      throw new Error(`sim: instance ${req.instanceId} exists already`);
    const subnets = [...this.topo.subnets.values()];
    const subnet = req.subnetId
      ? this.topo.subnets.get(req.subnetId)
      : subnets.find((s) => !req.zone || s.zone === req.zone);
    if (!subnet) throw new Error(`sim: no subnet ${req.subnetId ?? `in zone ${req.zone}`}`);
    const ip = this.topo.pools.get(subnet.id)!.allocate(1, this.cloud.rng);
    if (!ip) throw subnetFull('RunInstances', subnet.id, 'InsufficientFreeAddressesInSubnet');
    const now = this.now();
    const id = req.instanceId ?? this.topo.newId('i-');
    const eni: InterfaceRecord = {
      id: this.topo.newId('eni-'),
      mac: this.topo.newMac(),
      subnetId: subnet.id,
      description: `Primary network interface of ${id}`,
      securityGroups: req.securityGroups ?? [this.topo.vpc.defaultSecurityGroup],
      primaryAddress: ip[0],
      addresses: new Map(),
      prefixes: new Map(),
      released: [],
      tags: {},
      // The node sees its own instance as booted: no visibility lag on what existed at launch.
      createdAt: now - this.timing.visibilityLagMs,
      attachment: {
        instanceId: id,
        deviceIndex: 0,
        attachmentId: this.topo.newId('eni-attach-'),
        at: now - this.timing.visibilityLagMs,
      },
    };
    const inst: InstanceRecord = {
      id,
      type: req.instanceType,
      zone: subnet.zone,
      subnetId: subnet.id,
      primaryInterfaceId: eni.id,
      securityGroups: eni.securityGroups,
      launchedAt: now,
    };
    this.topo.interfaces.set(eni.id, eni);
    this.topo.instances.set(id, inst);
    this.cloud.touch();
    this.cloud.emit({
      type: 'instance-launched',
      instanceId: id,
      instanceType: inst.type,
      zone: inst.zone,
      subnetCidr: subnet.cidr,
      primaryInterfaceId: eni.id,
      primaryAddress: eni.primaryAddress,
      mac: eni.mac,
    });
    this.emitAttached(inst, eni);
    return inst;
  }

  /** Terminates an instance; its interfaces go with it (DeleteOnTermination, as the AWS CNI sets it). */
  terminate(instanceId: string): void {
    const inst = this.topo.instances.get(instanceId);
    if (!inst)
      throw new NotFoundError(
        `sim: no instance ${instanceId}`,
        'InvalidInstanceID.NotFound',
        'TerminateInstances',
      );
    for (const eni of this.topo.attachedTo(instanceId)) {
      const att = (eni.attachment ?? eni.detaching)!;
      if (eni.attachment)
        this.emitReleased(instanceId, eni, [...eni.addresses.keys()], [...eni.prefixes.keys()]);
      this.cloud.emit({
        type: 'interface-detached',
        instanceId,
        interfaceId: eni.id,
        mac: eni.mac,
        deviceNumber: att.deviceIndex,
      });
      this.removeInterface(eni);
    }
    this.topo.instances.delete(instanceId);
    this.cloud.touch();
    this.cloud.emit({ type: 'instance-terminated', instanceId });
  }

  // ---- helpers ----

  protected listInterfaces(a: string, f: InterfaceFilter): InterfaceView[] {
    const now = this.now();
    const lag = this.timing.visibilityLagMs;
    let recs: InterfaceRecord[];
    if (f.interfaceIds) recs = f.interfaceIds.map((id) => this.iface(a, id));
    else if (f.instanceId) recs = this.topo.attachedTo(f.instanceId);
    else recs = [...this.topo.interfaces.values()];
    const out: InterfaceView[] = [];
    for (const rec of recs) {
      this.settle(rec);
      if (!isVisible(rec, now, lag)) continue;
      const v = describeInterface(this.topo, rec, now, lag);
      if (f.instanceId && v.attachment?.instanceId !== f.instanceId) continue;
      if (f.subnetId && v.subnetId !== f.subnetId) continue;
      if (f.status && v.status !== f.status) continue;
      if (f.tags && Object.entries(f.tags).some(([k, val]) => v.tags[k] !== val)) continue;
      out.push(v);
    }
    return out.sort(
      (x, y) =>
        (x.attachment?.deviceIndex ?? 99) - (y.attachment?.deviceIndex ?? 99) || x.createdAt - y.createdAt,
    );
  }

  /** Completes a detach whose window has passed, and forgets tombstones older than the lag. */
  protected settle(eni: InterfaceRecord): void {
    const now = this.now();
    if (
      eni.detaching &&
      now >= eni.detaching.until &&
      now >= eni.detaching.at + this.timing.visibilityLagMs
    ) {
      eni.detaching = undefined;
      this.cloud.touch();
    }
    if (eni.released.length)
      eni.released = eni.released.filter((t) => t.at + this.timing.visibilityLagMs > now);
  }

  protected removeInterface(eni: InterfaceRecord): void {
    const { pool } = this.topo.subnet(eni.subnetId)!;
    pool.release(eni.primaryAddress);
    for (const ip of eni.addresses.keys()) pool.release(ip);
    for (const p of eni.prefixes.keys()) pool.releasePrefix(p);
    this.topo.interfaces.delete(eni.id);
    if (eni.clientToken) this.topo.tokens.delete(eni.clientToken);
    this.cloud.touch();
  }

  protected iface(a: string, id: string): InterfaceRecord {
    const eni = this.topo.interfaces.get(id);
    if (!eni) throw notFound(a, 'InvalidNetworkInterfaceID.NotFound', id);
    return eni;
  }

  protected instance(a: string, id: string): InstanceRecord {
    const inst = this.topo.instances.get(id);
    if (!inst) throw notFound(a, 'InvalidInstanceID.NotFound', id);
    return inst;
  }

  protected ownerOf(interfaceId: string): string | undefined {
    return this.topo.interfaces.get(interfaceId)?.attachment?.instanceId;
  }

  protected emitAttached(inst: InstanceRecord, eni: InterfaceRecord): void {
    const subnet = this.topo.subnets.get(eni.subnetId)!;
    const deviceNumber = eni.attachment!.deviceIndex;
    this.cloud.emit({
      type: 'interface-attached',
      instanceId: inst.id,
      interfaceId: eni.id,
      mac: eni.mac,
      deviceNumber,
      subnetCidr: subnet.cidr,
      primaryAddress: eni.primaryAddress,
    });
    if (eni.addresses.size || eni.prefixes.size)
      this.emitAssigned(eni, [...eni.addresses.keys()], [...eni.prefixes.keys()]);
  }

  protected emitAssigned(eni: InterfaceRecord, addresses: string[], prefixes: string[]): void {
    if (!eni.attachment) return; // an unattached interface reaches no host; its addresses follow on attach
    this.cloud.emit({
      type: 'addresses-assigned',
      instanceId: eni.attachment.instanceId,
      interfaceId: eni.id,
      addresses,
      prefixes,
    });
  }

  protected emitReleased(
    instanceId: string,
    eni: InterfaceRecord,
    addresses: string[],
    prefixes: string[],
  ): void {
    if (!addresses.length && !prefixes.length) return;
    this.cloud.emit({ type: 'addresses-released', instanceId, interfaceId: eni.id, addresses, prefixes });
  }
}

/** Address slots an interface uses: its primary, each secondary address, each /28 prefix. */
export function slots(eni: InterfaceRecord): number {
  return 1 + eni.addresses.size + eni.prefixes.size;
}

export function notFound(action: string, code: string, id: string): NotFoundError {
  return new NotFoundError(`${action}: the ID '${id}' does not exist`, code, action);
}

export function subnetFull(action: string, subnetId: string, code: string): SubnetFullError {
  const what = code === 'InsufficientCidrBlocks' ? 'no free aligned /28 block' : 'not enough free addresses';
  return new SubnetFullError(`${action}: subnet ${subnetId} has ${what}`, code, action);
}
