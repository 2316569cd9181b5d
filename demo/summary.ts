// The demo's closing summary: pods, reachability, addresses per node, cloud calls, time to address.
import type { PoolSnapshot } from './lab-port.js';
import type { ScenarioResult } from './scenario.js';

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function summaryLines(
  r: ScenarioResult,
  pools: Map<string, PoolSnapshot>,
  calls: Record<string, number> | null,
  elapsedMs: number,
  /** What `calls` counts, after the total (e.g. "by the daemons to LocalStack"); empty for the sim. */
  callsScope = '',
): string[] {
  const nodes = [...pools.keys()];
  const totalCalls = Object.values(calls ?? {}).reduce((a, b) => a + b, 0);
  const byAction = Object.entries(calls ?? {})
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([a, n]) => `${a} ${n}`)
    .join(', ');
  const ms = (v: number) => (Number.isFinite(v) ? `${Math.round(v)} ms` : 'n/a');
  const lines = [
    'Summary',
    `  pods            ${r.pods.length} running on ${nodes.length} node${nodes.length === 1 ? '' : 's'}, ` +
      `${r.addMs.length} ADDs succeeded, ${r.failedAdds.length} failed`,
    `  reachable       ${r.pingsSent - r.unreachable.length}/${r.pingsSent} pods answered a ping from another node`,
  ];
  for (const [node, p] of pools)
    lines.push(
      `  ${node.padEnd(15)} ${p.assigned} addresses assigned, ${p.free} free, ${p.cooling} cooling; ` +
        `${p.total} held of ${p.capacity} on ${p.interfaces} interface${p.interfaces === 1 ? '' : 's'}`,
    );
  lines.push(
    calls === null
      ? `  cloud calls     n/a (could not be read${callsScope ? ` ${callsScope}` : ''})`
      : `  cloud calls     ${totalCalls}${callsScope ? ` ${callsScope}` : ''}${byAction ? ` (${byAction})` : ''}`,
  );
  lines.push(
    `  time to address p50 ${ms(quantile(r.addMs, 0.5))}, p99 ${ms(quantile(r.addMs, 0.99))}, ` +
      `max ${ms(Math.max(...r.addMs))} (CNI ADD through the real plugin, end to end)`,
  );
  lines.push(`  elapsed         ${(elapsedMs / 1000).toFixed(1)} s`);
  return lines;
}
