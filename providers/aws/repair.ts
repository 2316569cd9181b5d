// Crash repair and the leaked-ENI sweeper (reference aws-vpc-cni.md 4.3). The incumbent leaks an ENI when a
// node dies between detach and delete, or between create and attach; Tidepool journals each step and, on
// restart, finishes or undoes it. The sweeper catches what still escapes (a node that never came back).
import {
  CreateTagsCommand,
  ModifyNetworkInterfaceAttributeCommand,
  type NetworkInterface,
} from '@aws-sdk/client-ec2';
import { InUseError, NotFoundError } from '../errors.js';
import type { OpenIntent } from '../types.js';
import { quarantineFresh, release } from './assign.js';
import { INTENT, type AwsContext } from './context.js';
import { describeEni, describeEnis, prefixesOf, secondaryAddresses } from './describe.js';
import { deleteEni, detachAndDelete, findByClientToken } from './eni-lifecycle.js';
import { retryStep, STEP_RETRY } from './retry.js';
import { TAG_CLUSTER, TAG_CREATED_AT, TAG_INSTANCE, TAG_OWNER, tagMap } from './tags.js';

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * Repairs every open intent this provider wrote; intents of other kinds are left alone. Returns the ids of
 * the repairs that failed (the daemon keeps those open for its next start).
 */
export async function repairIntents(ctx: AwsContext, intents: OpenIntent[]): Promise<number[]> {
  const failed: number[] = [];
  for (const intent of intents) {
    if (!Object.values(INTENT).includes(intent.kind as never)) continue;
    // An intent of another instance (a state directory copied between nodes) is not ours to act on.
    if (str(intent.details.instanceId) && str(intent.details.instanceId) !== ctx.node.instanceId) continue;
    try {
      await retryStep(ctx.clock, STEP_RETRY, () => repairOne(ctx, intent));
      ctx.journal?.end(intent.id);
      ctx.log.info(
        { intent: intent.kind, details: intent.details },
        'repaired an interrupted cloud operation',
      );
    } catch (err) {
      // Left open: the next restart tries again, and the sweeper deletes an unattached ENI meanwhile.
      failed.push(intent.id);
      ctx.log.error(
        { intent: intent.kind, details: intent.details, err: (err as Error).message },
        'repair failed',
      );
    }
  }
  return failed;
}

async function repairOne(ctx: AwsContext, intent: OpenIntent): Promise<void> {
  const d = intent.details;
  switch (intent.kind) {
    case INTENT.createEni: {
      const enis = str(d.interfaceId)
        ? await describeEni(ctx.ec2, str(d.interfaceId)).then(
            (ni) => [ni],
            (err) => (err instanceof NotFoundError ? [] : Promise.reject(err)),
          )
        : await findByClientToken(ctx, str(d.clientToken));
      for (const ni of enis) await settleCreated(ctx, ni);
      return;
    }
    case INTENT.deleteEni:
      // Finish the job: detach if still attached, then delete (retrying "in use"); gone already is fine.
      await detachAndDelete(ctx, str(d.interfaceId));
      return;
    case INTENT.assignAddresses:
    case INTENT.assignPrefixes: {
      // The assign may have landed without being vetted: vet what the ENI holds now against the subnet.
      // The daemon adopts the good ones from listInterfaces().
      const ni = await describeEni(ctx.ec2, str(d.interfaceId)).catch((err) =>
        err instanceof NotFoundError ? null : Promise.reject(err),
      );
      if (!ni) return;
      const kind = intent.kind === INTENT.assignAddresses ? 'addresses' : 'prefixes';
      const held = kind === 'addresses' ? secondaryAddresses(ni) : prefixesOf(ni);
      const cidr = (await ctx.subnets.cidrOf([ni.SubnetId ?? ''])).get(ni.SubnetId ?? '') ?? '';
      await quarantineFresh(ctx, str(d.interfaceId), cidr, ni.SubnetId ?? '', held, undefined, kind);
      return;
    }
    case INTENT.releaseAddresses:
    case INTENT.releasePrefixes: {
      // The daemon had already dropped these from its pool: send the release again (idempotent).
      const items = Array.isArray(d.items) ? d.items.map(String) : [];
      await release(
        ctx,
        str(d.interfaceId),
        items,
        intent.kind === INTENT.releaseAddresses ? 'addresses' : 'prefixes',
      );
      return;
    }
  }
}

/** A created ENI after a crash: adopt it when it made it onto this instance, delete it otherwise. */
async function settleCreated(ctx: AwsContext, ni: NetworkInterface): Promise<void> {
  const id = ni.NetworkInterfaceId ?? '';
  const att = ni.Attachment;
  if (
    att &&
    att.InstanceId === ctx.node.instanceId &&
    att.Status !== 'detaching' &&
    att.Status !== 'detached'
  ) {
    await ctx.ec2.send(
      'ModifyNetworkInterfaceAttribute',
      new ModifyNetworkInterfaceAttributeCommand({
        NetworkInterfaceId: id,
        Attachment: { AttachmentId: att.AttachmentId, DeleteOnTermination: true },
      }),
    );
    ctx.log.info({ interfaceId: id }, 'adopting an ENI attached just before a crash');
    return;
  }
  if (!att || ni.Status === 'available') await deleteEni(ctx, id);
  else await detachAndDelete(ctx, id);
}

/**
 * Deletes ENIs tagged for this node (and cluster, when CLUSTER_NAME is set) that are unattached and older
 * than `minAgeMs` by their createdAt tag. An ENI without that tag is stamped now and deleted on a later
 * sweep, as the incumbent does, so an ENI being created right now is never swept.
 */
export async function sweepLeaked(ctx: AwsContext, minAgeMs: number): Promise<string[]> {
  const filters = [
    { Name: `tag:${TAG_INSTANCE}`, Values: [ctx.node.instanceId] },
    { Name: `tag:${TAG_OWNER}`, Values: ['tidepool'] },
    { Name: 'status', Values: ['available'] },
  ];
  if (ctx.clusterName) filters.push({ Name: `tag:${TAG_CLUSTER}`, Values: [ctx.clusterName] });
  const deleted: string[] = [];
  for (const ni of await describeEnis(ctx.ec2, filters)) {
    const id = ni.NetworkInterfaceId ?? '';
    if (ni.Attachment && ni.Attachment.Status !== 'detached') continue;
    const created = Date.parse(tagMap(ni.TagSet)[TAG_CREATED_AT] ?? '');
    if (!Number.isFinite(created)) {
      await ctx.ec2.send(
        'CreateTags',
        new CreateTagsCommand({
          Resources: [id],
          Tags: [
            { Key: TAG_CREATED_AT, Value: new Date(ctx.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z') },
          ],
        }),
      );
      continue;
    }
    if (ctx.clock.now() - created < minAgeMs) continue;
    try {
      await deleteEni(ctx, id);
      deleted.push(id);
      ctx.log.info({ interfaceId: id, ageMs: ctx.clock.now() - created }, 'deleted a leaked ENI');
    } catch (err) {
      if (!(err instanceof InUseError)) throw err;
    }
  }
  return deleted;
}
