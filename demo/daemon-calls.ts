// EC2 calls of a lab on LocalStack, as the daemons count them. LocalStack keeps no per-action call count
// the way the lab's sim does (its GET /calls), so the demo reads each node daemon's own Prometheus
// counter (tidepool_cloud_call_duration_seconds_count, by action) from inside that node's namespace,
// where the daemon listens on its default loopback metrics port. The lab's own calls (launching the
// instances, the fabric following EC2's view) are not in it: the summary says "by the daemons".
import { runIn } from './exec.js';

const METRICS_PORT = 61678;

/** Sums `tidepool_cloud_call_duration_seconds_count` by action over a Prometheus text exposition. */
export function callsByAction(exposition: string, into: Record<string, number> = {}): Record<string, number> {
  const re = /^tidepool_cloud_call_duration_seconds_count\{([^}]*)\}\s+(\d+(?:\.\d+)?)/gm;
  for (const m of exposition.matchAll(re)) {
    const action = /action="([^"]*)"/.exec(m[1])?.[1];
    if (action) into[action] = (into[action] ?? 0) + Number(m[2]);
  }
  return into;
}

/** EC2 calls every node's daemon has made, by action; rejects when a daemon's metrics cannot be read. */
export async function daemonCloudCalls(nodeNamespaces: string[]): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  for (const ns of nodeNamespaces) {
    const r = await runIn(ns, 'socat', ['-T3', '-', `TCP:127.0.0.1:${METRICS_PORT}`], {
      input: 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n',
      timeoutMs: 5000,
      allowFailure: true,
    });
    if (r.code !== 0 || !/^HTTP\/1\.\d 200/.test(r.stdout))
      throw new Error(`the metrics of the daemon in ${ns} did not answer: ${r.stderr.trim().slice(0, 200)}`);
    callsByAction(r.stdout, calls);
  }
  return calls;
}
