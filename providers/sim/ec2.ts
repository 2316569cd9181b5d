// The EC2 actions of the sim and their effects on the topology, with EC2's limits and error codes:
// AttachmentLimitExceeded, PrivateIpAddressLimitExceeded, InsufficientFreeAddressesInSubnet,
// InsufficientCidrBlocks, InvalidNetworkInterface.InUse (delete before detach completes), *.NotFound.

import { instanceLimits } from '../capacity.js';
import { CloudError, InUseError, LimitExceededError, UnsupportedError } from '../errors.js';
import type { CreateInterfaceRequest, InterfaceFilter, SimEc2 } from './api.js';
import { invalidParameter, needString, optInt, optString, optStrings, optTags, reqObject } from './api.js';
import type { InstanceView, InterfaceRecord, InterfaceStatus, InterfaceView, SubnetView } from './model.js';
import { describeInstance, describeInterface, describeSubnet } from './views.js';
import { Ec2State, notFound, slots, subnetFull } from './ec2-state.js';

export type { Ec2Timing } from './ec2-state.js';

const STATUSES: InterfaceStatus[] = ['available', 'in-use', 'detaching'];

export class Ec2Actions extends Ec2State implements SimEc2 {
  // ---- reads ----

  async describeInstances(raw: { instanceIds?: string[] }): Promise<InstanceView[]> {
    const a = 'DescribeInstances';
    const ids = optStrings(a, reqObject(a, raw), 'instanceIds');
    return this.cloud.run(
      a,
      () => {
        const recs = ids ? ids.map((id) => this.instance(a, id)) : [...this.topo.instances.values()];
        return recs.map((r) => describeInstance(this.topo, r));
      },
      { bucketKey: ids ? a : `${a}:unfiltered`, instanceId: ids?.length === 1 ? ids[0] : undefined },
    );
  }

  async describeNetworkInterfaces(raw: InterfaceFilter): Promise<InterfaceView[]> {
    const a = 'DescribeNetworkInterfaces';
    const r = reqObject(a, raw);
    const f: InterfaceFilter = {
      interfaceIds: optStrings(a, r, 'interfaceIds'),
      instanceId: optString(a, r, 'instanceId'),
      subnetId: optString(a, r, 'subnetId'),
      status: optString(a, r, 'status') as InterfaceStatus | undefined,
      tags: optTags(a, r, 'tags'),
    };
    if (f.status && !STATUSES.includes(f.status)) throw invalidParameter(a, `unknown status ${f.status}`);
    const filtered = Object.values(f).some((v) => v !== undefined);
    return this.cloud.run(a, () => this.listInterfaces(a, f), {
      bucketKey: filtered ? a : `${a}:unfiltered`,
      instanceId: f.instanceId,
    });
  }

  async describeSubnets(raw: { subnetIds?: string[]; zone?: string }): Promise<SubnetView[]> {
    const a = 'DescribeSubnets';
    const r = reqObject(a, raw);
    const ids = optStrings(a, r, 'subnetIds');
    const zone = optString(a, r, 'zone');
    return this.cloud.run(a, () => {
      for (const id of ids ?? [])
        if (!this.topo.subnets.has(id)) throw notFound(a, 'InvalidSubnetID.NotFound', id);
      return [...this.topo.subnets.values()]
        .filter((s) => (!ids || ids.includes(s.id)) && (!zone || s.zone === zone))
        .map((s) => describeSubnet(this.topo, s));
    });
  }

  // ---- interfaces ----

  async createNetworkInterface(raw: CreateInterfaceRequest): Promise<InterfaceView> {
    const a = 'CreateNetworkInterface';
    const r = reqObject(a, raw);
    const subnetId = needString(a, r, 'subnetId');
    const securityGroups = optStrings(a, r, 'securityGroups');
    const description = optString(a, r, 'description') ?? '';
    const count = optInt(a, r, 'secondaryAddressCount', 0) ?? 0;
    const prefixCount = optInt(a, r, 'prefixCount', 0) ?? 0;
    const clientToken = optString(a, r, 'clientToken');
    const tags = optTags(a, r, 'tags') ?? {};
    if (count > 0 && prefixCount > 0) {
      throw invalidParameter(
        a,
        'secondaryAddressCount and prefixCount cannot be combined',
        'InvalidParameterCombination',
      );
    }
    return this.cloud.run(a, () => {
      if (clientToken) {
        const existing = this.topo.interfaces.get(this.topo.tokens.get(clientToken) ?? '');
        if (existing) return describeInterface(this.topo, existing, this.now(), 0);
      }
      const s = this.topo.subnet(subnetId);
      if (!s) throw notFound(a, 'InvalidSubnetID.NotFound', subnetId);
      const primary = s.pool.allocate(1 + count, this.cloud.rng);
      if (!primary) throw subnetFull(a, subnetId, 'InsufficientFreeAddressesInSubnet');
      let prefixes: string[] = [];
      if (prefixCount > 0) {
        const got = s.pool.allocatePrefixes(prefixCount, this.cloud.rng);
        if (!got) {
          for (const ip of primary) s.pool.release(ip);
          throw subnetFull(a, subnetId, 'InsufficientCidrBlocks');
        }
        prefixes = got;
      }
      const now = this.now();
      const rec: InterfaceRecord = {
        id: this.topo.newId('eni-'),
        mac: this.topo.newMac(),
        subnetId,
        description,
        securityGroups: securityGroups ?? [this.topo.vpc.defaultSecurityGroup],
        primaryAddress: primary[0],
        addresses: new Map(primary.slice(1).map((ip) => [ip, now])),
        prefixes: new Map(prefixes.map((p) => [p, now])),
        released: [],
        tags: { ...tags },
        createdAt: now,
        clientToken,
      };
      this.topo.interfaces.set(rec.id, rec);
      if (clientToken) this.topo.tokens.set(clientToken, rec.id);
      this.cloud.touch();
      return describeInterface(this.topo, rec, now, 0);
    });
  }

  async attachNetworkInterface(raw: {
    interfaceId: string;
    instanceId: string;
    deviceIndex: number;
  }): Promise<{ attachmentId: string }> {
    const a = 'AttachNetworkInterface';
    const r = reqObject(a, raw);
    const interfaceId = needString(a, r, 'interfaceId');
    const instanceId = needString(a, r, 'instanceId');
    const deviceIndex = optInt(a, r, 'deviceIndex', 0);
    if (deviceIndex === undefined)
      throw invalidParameter(a, 'the request must contain deviceIndex', 'MissingParameter');
    return this.cloud.run(
      a,
      () => {
        const eni = this.iface(a, interfaceId);
        const inst = this.instance(a, instanceId);
        this.settle(eni);
        if (eni.attachment || eni.detaching) {
          throw new InUseError(
            `${a}: interface ${interfaceId} is currently in use`,
            'InvalidNetworkInterface.InUse',
            a,
          );
        }
        if (this.topo.subnets.get(eni.subnetId)!.zone !== inst.zone) {
          throw invalidParameter(
            a,
            `interface ${interfaceId} and instance ${instanceId} are in different zones`,
            'InvalidParameterCombination',
          );
        }
        const limits = instanceLimits(inst.type);
        const attached = this.topo.attachedTo(instanceId);
        if (attached.some((i) => (i.attachment ?? i.detaching)!.deviceIndex === deviceIndex)) {
          throw invalidParameter(
            a,
            `instance '${instanceId}' already has an interface attached at device index '${deviceIndex}'`,
          );
        }
        if (attached.length + 1 > limits.maxInterfaces) {
          throw new LimitExceededError(
            `${a}: interface count ${attached.length + 1} exceeds the limit for ${inst.type} (${limits.maxInterfaces})`,
            'AttachmentLimitExceeded',
            a,
          );
        }
        if (slots(eni) > limits.ipv4PerInterface) {
          throw new LimitExceededError(
            `${a}: interface ${interfaceId} holds ${slots(eni)} addresses; ${inst.type} allows ${limits.ipv4PerInterface}`,
            'PrivateIpAddressLimitExceeded',
            a,
          );
        }
        const attachmentId = this.topo.newId('eni-attach-');
        eni.attachment = { instanceId, deviceIndex, attachmentId, at: this.now() };
        this.cloud.touch();
        this.emitAttached(inst, eni);
        return { attachmentId };
      },
      { instanceId },
    );
  }

  async detachNetworkInterface(raw: { interfaceId: string; force?: boolean }): Promise<void> {
    const a = 'DetachNetworkInterface';
    const interfaceId = needString(a, reqObject(a, raw), 'interfaceId');
    return this.cloud.run(a, () => {
      const eni = this.iface(a, interfaceId);
      const att = eni.attachment;
      if (!att) throw new CloudError(`${a}: interface ${interfaceId} is not attached`, 'IncorrectState', a);
      if (att.deviceIndex === 0) {
        throw new CloudError(
          `${a}: the network interface at device index 0 cannot be detached`,
          'OperationNotPermitted',
          a,
        );
      }
      const now = this.now();
      eni.attachment = undefined;
      eni.detaching = { ...att, at: now, until: now + this.timing.detachMs };
      this.cloud.touch();
      this.emitReleased(att.instanceId, eni, [...eni.addresses.keys()], [...eni.prefixes.keys()]);
      this.cloud.emit({
        type: 'interface-detached',
        instanceId: att.instanceId,
        interfaceId,
        mac: eni.mac,
        deviceNumber: att.deviceIndex,
      });
    });
  }

  async deleteNetworkInterface(raw: { interfaceId: string }): Promise<void> {
    const a = 'DeleteNetworkInterface';
    const interfaceId = needString(a, reqObject(a, raw), 'interfaceId');
    return this.cloud.run(a, () => {
      const eni = this.iface(a, interfaceId);
      this.settle(eni);
      if (eni.attachment || eni.detaching) {
        throw new InUseError(
          `${a}: network interface ${interfaceId} is currently in use`,
          'InvalidNetworkInterface.InUse',
          a,
        );
      }
      this.removeInterface(eni);
    });
  }

  async assignPrivateIpAddresses(raw: {
    interfaceId: string;
    count?: number;
    prefixCount?: number;
  }): Promise<{ addresses: string[]; prefixes: string[] }> {
    const a = 'AssignPrivateIpAddresses';
    const r = reqObject(a, raw);
    const interfaceId = needString(a, r, 'interfaceId');
    const count = optInt(a, r, 'count', 1);
    const prefixCount = optInt(a, r, 'prefixCount', 1);
    if ((count === undefined) === (prefixCount === undefined)) {
      throw invalidParameter(
        a,
        'give exactly one of count (SecondaryPrivateIpAddressCount) and prefixCount (Ipv4PrefixCount)',
        'InvalidParameterCombination',
      );
    }
    const n = count ?? prefixCount!;
    return this.cloud.run(
      a,
      () => {
        const eni = this.iface(a, interfaceId);
        const inst = eni.attachment ? this.topo.instances.get(eni.attachment.instanceId) : undefined;
        const limits = inst ? instanceLimits(inst.type) : undefined;
        if (prefixCount !== undefined && limits && limits.hypervisor !== 'nitro' && !limits.bareMetal) {
          throw new UnsupportedError(
            `${a}: prefix delegation needs a Nitro instance; ${inst!.type} is not`,
            'InvalidParameterValue',
            a,
          );
        }
        if (limits && slots(eni) + n > limits.ipv4PerInterface) {
          throw new LimitExceededError(
            `${a}: number of private addresses will exceed limit (${slots(eni)} + ${n} > ${limits.ipv4PerInterface} for ${inst!.type})`,
            'PrivateIpAddressLimitExceeded',
            a,
          );
        }
        const { pool } = this.topo.subnet(eni.subnetId)!;
        const now = this.now();
        if (count !== undefined) {
          const got = pool.allocate(count, this.cloud.rng);
          if (!got) throw subnetFull(a, eni.subnetId, 'InsufficientFreeAddressesInSubnet');
          for (const ip of got) eni.addresses.set(ip, now);
          this.cloud.touch();
          this.emitAssigned(eni, got, []);
          return { addresses: got, prefixes: [] };
        }
        const got = pool.allocatePrefixes(n, this.cloud.rng);
        if (!got) throw subnetFull(a, eni.subnetId, 'InsufficientCidrBlocks');
        for (const p of got) eni.prefixes.set(p, now);
        this.cloud.touch();
        this.emitAssigned(eni, [], got);
        return { addresses: [], prefixes: got };
      },
      { instanceId: this.ownerOf(interfaceId) },
    );
  }

  async unassignPrivateIpAddresses(raw: {
    interfaceId: string;
    addresses?: string[];
    prefixes?: string[];
  }): Promise<void> {
    const a = 'UnassignPrivateIpAddresses';
    const r = reqObject(a, raw);
    const interfaceId = needString(a, r, 'interfaceId');
    const addresses = optStrings(a, r, 'addresses') ?? [];
    const prefixes = optStrings(a, r, 'prefixes') ?? [];
    if (addresses.length === 0 && prefixes.length === 0)
      throw invalidParameter(a, 'give addresses or prefixes to unassign', 'MissingParameter');
    return this.cloud.run(
      a,
      () => {
        const eni = this.iface(a, interfaceId);
        if (addresses.includes(eni.primaryAddress))
          throw invalidParameter(a, `${eni.primaryAddress} is the primary address of ${interfaceId}`);
        const missing = [
          ...addresses.filter((x) => !eni.addresses.has(x)),
          ...prefixes.filter((p) => !eni.prefixes.has(p)),
        ];
        if (missing.length)
          throw invalidParameter(
            a,
            `some of the specified addresses are not assigned to interface ${interfaceId}: ${missing.join(', ')}`,
          );
        const { pool } = this.topo.subnet(eni.subnetId)!;
        const now = this.now();
        for (const ip of addresses) {
          eni.addresses.delete(ip);
          pool.release(ip);
          if (this.timing.visibilityLagMs > 0) eni.released.push({ value: ip, prefix: false, at: now });
        }
        for (const p of prefixes) {
          eni.prefixes.delete(p);
          pool.releasePrefix(p);
          if (this.timing.visibilityLagMs > 0) eni.released.push({ value: p, prefix: true, at: now });
        }
        this.cloud.touch();
        if (eni.attachment) this.emitReleased(eni.attachment.instanceId, eni, addresses, prefixes);
      },
      { instanceId: this.ownerOf(interfaceId) },
    );
  }

  async createTags(raw: { resourceIds: string[]; tags: Record<string, string> }): Promise<void> {
    const a = 'CreateTags';
    const r = reqObject(a, raw);
    const ids = optStrings(a, r, 'resourceIds');
    const tags = optTags(a, r, 'tags');
    if (!ids?.length || !tags)
      throw invalidParameter(a, 'the request must contain resourceIds and tags', 'MissingParameter');
    return this.cloud.run(a, () => {
      const enis = ids.map((id) => this.iface(a, id));
      for (const e of enis) Object.assign(e.tags, tags);
      this.cloud.touch();
    });
  }

  async modifyNetworkInterfaceAttribute(raw: {
    interfaceId: string;
    deleteOnTermination: boolean;
  }): Promise<void> {
    const a = 'ModifyNetworkInterfaceAttribute';
    const r = reqObject(a, raw);
    const interfaceId = needString(a, r, 'interfaceId');
    if (typeof r.deleteOnTermination !== 'boolean')
      throw invalidParameter(
        a,
        'the request must contain deleteOnTermination (a boolean)',
        'MissingParameter',
      );
    return this.cloud.run(a, () => {
      const eni = this.iface(a, interfaceId);
      if (!eni.attachment)
        throw invalidParameter(
          a,
          `interface ${interfaceId} has no attachment`,
          'InvalidAttachmentID.NotFound',
        );
      this.cloud.touch();
    });
  }
}
