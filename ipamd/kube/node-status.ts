// Writes what the daemon knows about its own node: the tidepool.io/NetworkReady condition (status
// subresource, strategic merge on the condition's type) and the removal of the startup taint
// tidepool.io/network-unavailable, which the kubelet registers with the node (--register-with-taints). Only
// the node named by MY_NODE_NAME is ever written; the chart's admission policy holds each daemon to the node
// named in its own token. The taint is removed by a JSON patch guarded by the node's resourceVersion, so a
// concurrent change of the taints (another controller's) is never overwritten: the patch is retried on the
// fresh node instead.
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { apiStatus } from './client.js';
import { NETWORK_READY_CONDITION, type Readiness } from './readiness.js';

export const STARTUP_TAINT = 'tidepool.io/network-unavailable';

export class NodeStatusWriter {
  private lastStatus?: 'True' | 'False';
  private transitionAt = new Date();

  constructor(
    private readonly api: CoreV1Api,
    readonly nodeName: string,
    node?: V1Node,
  ) {
    const prev = node?.status?.conditions?.find((c) => c.type === NETWORK_READY_CONDITION);
    if (prev && (prev.status === 'True' || prev.status === 'False')) {
      this.lastStatus = prev.status;
      if (prev.lastTransitionTime) this.transitionAt = new Date(prev.lastTransitionTime);
    }
  }

  async setCondition(r: Readiness, now = new Date()): Promise<void> {
    const status = r.ready ? 'True' : 'False';
    if (status !== this.lastStatus) this.transitionAt = now;
    const condition = {
      type: NETWORK_READY_CONDITION,
      status,
      reason: r.reason,
      message: r.message,
      lastHeartbeatTime: now.toISOString(),
      lastTransitionTime: this.transitionAt.toISOString(),
    };
    await this.api.patchNodeStatus(
      { name: this.nodeName, body: { status: { conditions: [condition] } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    this.lastStatus = status;
  }

  /** Removes the startup taint (any effect) from this node; returns whether it was there. */
  async removeStartupTaint(): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const node = await this.api.readNode({ name: this.nodeName });
      const taints = node.spec?.taints ?? [];
      const keep = taints.filter((t) => t.key !== STARTUP_TAINT);
      if (keep.length === taints.length) return false;
      try {
        await this.api.patchNode({
          name: this.nodeName,
          body: [
            { op: 'test', path: '/metadata/resourceVersion', value: node.metadata?.resourceVersion },
            { op: 'replace', path: '/spec/taints', value: keep.map(plainTaint) },
          ],
        });
        return true;
      } catch (err) {
        // 409/422: the node changed since it was read (the test op failed); read it again.
        const code = apiStatus(err);
        if ((code !== 409 && code !== 422) || attempt >= 5) throw err;
      }
    }
  }
}

/** A taint as the API spells it (timeAdded as the server's RFC 3339 string, not a Date's). */
function plainTaint(t: { key: string; value?: string; effect: string; timeAdded?: Date }) {
  const out: Record<string, string> = { key: t.key, effect: t.effect };
  if (t.value !== undefined) out.value = t.value;
  if (t.timeAdded) out.timeAdded = new Date(t.timeAdded).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return out;
}
