// What every AWS operation needs: the EC2 client, the node's identity, the journal, time and settings.
import type { Clock } from '../clock.js';
import type { IntentJournal, NodeInfo } from '../types.js';
import type { Ec2, ProviderLog } from './ec2.js';
import type { SubnetCache } from './describe.js';

/** Points where a test can make the process die (kill -9 semantics) to prove crash repair. */
export type CrashPoint = 'after-create' | 'after-attach' | 'after-detach';

export interface AwsContext {
  ec2: Ec2;
  node: NodeInfo;
  clock: Clock;
  log: ProviderLog;
  subnets: SubnetCache;
  journal: IntentJournal | null;
  clusterName: string;
  additionalTags: Record<string, string>;
  subnetDiscovery: boolean;
  /** MAX_ENI (-1 = the instance type's limit only). */
  maxEni: number;
  crashAt: CrashPoint | null;
  /** ENABLE_PREFIX_DELEGATION: single addresses are reported as /32 prefixes (the no-/28 fallback). */
  prefixMode: boolean;
  /** Client tokens already used by a create whose ENI was deleted: a retry must not reuse them (EC2 would
   *  answer with the deleted ENI). Value = how many times the token was burnt. */
  burntTokens: Map<string, number>;
}

/** Journal kinds this provider writes; repairIntents() understands exactly these. */
export const INTENT = {
  createEni: 'aws.create-eni',
  deleteEni: 'aws.delete-eni',
  assignAddresses: 'aws.assign-addresses',
  assignPrefixes: 'aws.assign-prefixes',
  releaseAddresses: 'aws.release-addresses',
  releasePrefixes: 'aws.release-prefixes',
} as const;

/** Writes an intent before a mutating call and returns a closer; a no-op without a journal. */
export function beginIntent(ctx: AwsContext, kind: string, details: Record<string, unknown>) {
  const id = ctx.journal ? ctx.journal.begin(kind, { ...details, instanceId: ctx.node.instanceId }) : -1;
  return {
    update(more: Record<string, unknown>): void {
      if (ctx.journal && id >= 0) ctx.journal.update(id, more);
    },
    end(): void {
      if (ctx.journal && id >= 0) ctx.journal.end(id);
    },
  };
}

/** Test hook (TIDEPOOL_AWS_TEST_CRASH_AT): die exactly here, as kill -9 would, leaving EC2 half-changed. */
export function crashPoint(ctx: AwsContext, point: CrashPoint): void {
  if (ctx.crashAt === point) {
    ctx.log.error({ point }, 'TIDEPOOL_AWS_TEST_CRASH_AT reached: killing the process (test hook)');
    process.kill(process.pid, 'SIGKILL');
  }
}
