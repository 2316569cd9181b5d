// Creating, attaching, detaching and deleting ENIs (reference aws-vpc-cni.md 3.4 step 2, 3.5 FreeENI, 4.3).
// Every mutating call is journalled before it is sent, so a crash between create and attach, or between
// detach and delete, is found and repaired on restart (repair.ts) instead of leaking an ENI.
import {
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  DeleteNetworkInterfaceCommand,
  DescribeInstancesCommand,
  DetachNetworkInterfaceCommand,
  ModifyNetworkInterfaceAttributeCommand,
  type AttachNetworkInterfaceCommandOutput,
  type CreateNetworkInterfaceCommandOutput,
  type DescribeInstancesCommandOutput,
} from '@aws-sdk/client-ec2';
import { LimitExceededError, NotFoundError, SubnetFullError, TransientError } from '../errors.js';
import type { AttachRequest, CloudInterface, SubnetInfo } from '../types.js';
import { beginIntent, crashPoint, INTENT, type AwsContext } from './context.js';
import { toCloudInterface } from './convert.js';
import { describeEni, describeEnis } from './describe.js';
import { quarantineFresh } from './assign.js';
import { DELETE_RETRY, retryStep, STEP_RETRY, THROTTLE_RETRY } from './retry.js';
import { DESCRIPTION_PREFIX, eniTags, TAG_CLIENT_TOKEN, tagSpecification } from './tags.js';

/** Device indexes in use on the instance, from DescribeInstances (the incumbent's source, reference 4.1). */
export async function usedDeviceIndexes(ctx: AwsContext): Promise<Set<number>> {
  const out = await ctx.ec2.send<DescribeInstancesCommandOutput>(
    'DescribeInstances',
    new DescribeInstancesCommand({ InstanceIds: [ctx.node.instanceId] }),
  );
  const inst = out.Reservations?.[0]?.Instances?.[0];
  if (!inst)
    throw new NotFoundError(
      `instance ${ctx.node.instanceId} not found`,
      'InvalidInstanceID.NotFound',
      'DescribeInstances',
    );
  return new Set(
    (inst.NetworkInterfaces ?? []).map((n) => n.Attachment?.DeviceIndex ?? -1).filter((i) => i >= 0),
  );
}

function interfaceCap(ctx: AwsContext): number {
  const byType = ctx.node.limits.maxInterfaces;
  return ctx.maxEni > 0 ? Math.min(byType, ctx.maxEni) : byType;
}

/**
 * Creates, tags and attaches a new ENI in the subnet asked for. Without one (and with subnet discovery on),
 * the discovered subnets are tried most-free first, moving on when one is full (reference 4.1); the
 * daemon's core chooses the subnet itself (ipamd/cloud/actions.ts chooseSubnet), so it is not listed twice.
 */
export async function attachInterface(
  ctx: AwsContext,
  req: AttachRequest,
  discover: () => Promise<SubnetInfo[]>,
): Promise<CloudInterface> {
  // Tidepool enforces the instance's interface limit itself: the emulator does not, and asking AWS to
  // create an ENI it will refuse to attach only makes one more ENI to delete.
  const used = await usedDeviceIndexes(ctx);
  const cap = interfaceCap(ctx);
  if (used.size >= cap)
    throw new LimitExceededError(
      `instance ${ctx.node.instanceId} already has ${used.size} interfaces; the limit is ${cap} ` +
        `(${ctx.node.limits.instanceType}${ctx.maxEni > 0 ? `, MAX_ENI=${ctx.maxEni}` : ''})`,
      'AttachmentLimitExceeded',
      'AttachNetworkInterface',
    );
  let deviceIndex = req.deviceIndex;
  if (deviceIndex < 1 || used.has(deviceIndex)) for (deviceIndex = 1; used.has(deviceIndex); deviceIndex++);

  const subnets =
    ctx.subnetDiscovery && !req.subnetId
      ? (await retryStep(ctx.clock, STEP_RETRY, discover)).map((s) => s.id)
      : [req.subnetId || ctx.node.subnetId];
  if (subnets.length === 0) subnets.push(ctx.node.subnetId);
  // A token whose ENI was deleted (a failed attempt) must not be sent again: EC2 would return that ENI.
  const burnt = ctx.burntTokens.get(req.clientToken) ?? 0;
  const clientToken = burnt ? `${req.clientToken}-r${burnt}` : req.clientToken;
  const intent = beginIntent(ctx, INTENT.createEni, { clientToken, subnetId: subnets[0], deviceIndex });
  let eniId = '';
  try {
    for (const [i, subnetId] of subnets.entries()) {
      try {
        eniId = await createEni(ctx, { ...req, subnetId, clientToken });
        break;
      } catch (err) {
        if (!(err instanceof SubnetFullError) || i === subnets.length - 1) throw err;
        ctx.log.warn({ subnetId, code: err.code }, 'subnet full; trying the next discovered subnet');
      }
    }
  } catch (err) {
    // A throttled or refused create changed nothing. A transient failure (timeout, 5xx, reset) may have
    // created the ENI anyway: look it up by its client-token tag and delete it; if even that fails, the
    // intent stays open and repair (at restart) or the sweeper finds it.
    if (err instanceof TransientError) {
      ctx.burntTokens.set(req.clientToken, burnt + 1);
      await deleteByClientToken(ctx, clientToken).then(
        () => intent.end(),
        () => {},
      );
    } else intent.end();
    throw err;
  }
  intent.update({ interfaceId: eniId });
  crashPoint(ctx, 'after-create');

  let attachmentId: string;
  try {
    const out = await retryStep(ctx.clock, STEP_RETRY, () =>
      ctx.ec2.send<AttachNetworkInterfaceCommandOutput>(
        'AttachNetworkInterface',
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: eniId,
          InstanceId: ctx.node.instanceId,
          DeviceIndex: deviceIndex,
          NetworkCardIndex: 0,
        }),
      ),
    );
    attachmentId = out.AttachmentId ?? '';
    intent.update({ attachmentId });
    crashPoint(ctx, 'after-attach');
    // So the ENI goes with the instance when it terminates (reference 3.4). moto ignores this attribute.
    await retryStep(ctx.clock, STEP_RETRY, () =>
      ctx.ec2.send(
        'ModifyNetworkInterfaceAttribute',
        new ModifyNetworkInterfaceAttributeCommand({
          NetworkInterfaceId: eniId,
          Attachment: { AttachmentId: attachmentId, DeleteOnTermination: true },
        }),
      ),
    );
  } catch (err) {
    ctx.log.warn({ interfaceId: eniId, err: (err as Error).message }, 'attach failed; deleting the new ENI');
    ctx.burntTokens.set(req.clientToken, burnt + 1);
    await deleteEni(ctx, eniId).catch((e: Error) =>
      ctx.log.error(
        { interfaceId: eniId, err: e.message },
        'could not delete the unattached ENI; repair/sweep will',
      ),
    );
    intent.end();
    throw err;
  }

  const ni = await retryStep(ctx.clock, STEP_RETRY, () => describeEni(ctx.ec2, eniId));
  const cidr = (await ctx.subnets.cidrOf([ni.SubnetId ?? ''])).get(ni.SubnetId ?? '') ?? '';
  const iface = toCloudInterface(ni, cidr);
  if (iface.addresses.length) {
    const good = await quarantineFresh(ctx, eniId, cidr, ni.SubnetId ?? '', iface.addresses);
    iface.addresses = good;
  }
  ctx.log.debug?.({ interfaceId: eniId, addresses: iface.addresses }, 'attached ENI');
  intent.end();
  return iface;
}

async function createEni(ctx: AwsContext, req: AttachRequest): Promise<string> {
  const tags = eniTags({
    instanceId: ctx.node.instanceId,
    clusterName: ctx.clusterName,
    clientToken: req.clientToken,
    createdAt: new Date(ctx.clock.now()),
    additional: ctx.additionalTags,
    extra: req.tags,
  });
  const room = ctx.node.limits.ipv4PerInterface - 1;
  const send = (inline: { SecondaryPrivateIpAddressCount?: number; Ipv4PrefixCount?: number }) =>
    retryStep(ctx.clock, THROTTLE_RETRY, () => sendCreate(inline));
  const sendCreate = (inline: { SecondaryPrivateIpAddressCount?: number; Ipv4PrefixCount?: number }) =>
    ctx.ec2.send<CreateNetworkInterfaceCommandOutput>(
      'CreateNetworkInterface',
      new CreateNetworkInterfaceCommand({
        SubnetId: req.subnetId || ctx.node.subnetId,
        Groups: req.securityGroups.length ? req.securityGroups : ctx.node.securityGroups,
        Description: `${DESCRIPTION_PREFIX}${ctx.node.instanceId}`,
        TagSpecifications: tagSpecification(tags),
        ClientToken: req.clientToken,
        ...inline,
      }),
    );
  let out: CreateNetworkInterfaceCommandOutput;
  if (req.prefixes && req.prefixes > 0) {
    try {
      out = await send({ Ipv4PrefixCount: Math.min(req.prefixes, room) });
    } catch (err) {
      // No free /28 in the subnet: the ENI is still worth having; its pool falls back to single addresses.
      if (!(err instanceof SubnetFullError && err.code === 'InsufficientCidrBlocks')) throw err;
      ctx.log.warn(
        { subnetId: req.subnetId },
        'no free /28 in the subnet; creating the ENI without prefixes',
      );
      out = await send({});
    }
  } else if (req.addresses && req.addresses > 0)
    out = await send({ SecondaryPrivateIpAddressCount: Math.min(req.addresses, room) });
  else out = await send({});
  const id = out.NetworkInterface?.NetworkInterfaceId;
  if (!id) throw new Error('CreateNetworkInterface returned no NetworkInterfaceId');
  return id;
}

/** Detach (when attached) then delete; "in use" while the detach completes is retried (reference 2). */
export async function detachAndDelete(ctx: AwsContext, eniId: string): Promise<void> {
  let ni;
  try {
    ni = await describeEni(ctx.ec2, eniId);
  } catch (err) {
    if (err instanceof NotFoundError) return;
    throw err;
  }
  if (ni.Attachment?.DeviceIndex === 0)
    throw new Error(`refusing to detach ${eniId}: it is the instance's primary interface (device 0)`);
  const attachmentId = ni.Attachment?.AttachmentId;
  const intent = beginIntent(ctx, INTENT.deleteEni, {
    interfaceId: eniId,
    attachmentId: attachmentId ?? null,
  });
  if (attachmentId && ni.Attachment?.Status !== 'detaching' && ni.Status !== 'available') {
    try {
      await retryStep(ctx.clock, THROTTLE_RETRY, () =>
        ctx.ec2.send(
          'DetachNetworkInterface',
          new DetachNetworkInterfaceCommand({ AttachmentId: attachmentId }),
        ),
      );
    } catch (err) {
      if (!(err instanceof NotFoundError)) {
        intent.end(); // nothing changed
        throw err;
      }
    }
  }
  crashPoint(ctx, 'after-detach');
  await deleteEni(ctx, eniId);
  intent.end();
}

export async function deleteEni(ctx: AwsContext, eniId: string): Promise<void> {
  await retryStep(ctx.clock, DELETE_RETRY, async () => {
    try {
      await ctx.ec2.send(
        'DeleteNetworkInterface',
        new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eniId }),
      );
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  });
}

/** ENIs by client-token tag (a create whose answer was lost). */
export async function findByClientToken(ctx: AwsContext, token: string) {
  return describeEnis(ctx.ec2, [{ Name: `tag:${TAG_CLIENT_TOKEN}`, Values: [token] }]);
}

async function deleteByClientToken(ctx: AwsContext, token: string): Promise<void> {
  for (const ni of await retryStep(ctx.clock, STEP_RETRY, () => findByClientToken(ctx, token)))
    if (ni.NetworkInterfaceId && !ni.Attachment) await deleteEni(ctx, ni.NetworkInterfaceId);
}
