// Idempotent policy-routing rules: `ip rule add` happily adds duplicates, so each rule is compared with
// what the kernel already holds (`ip -json rule show`) and added or deleted only when needed.
import type { HostExec } from './exec.js';

export interface Rule {
  priority: number;
  /** Source address (a /32); undefined = from all. */
  from?: string;
  /** fwmark/mask, as numbers. */
  fwmark?: { mark: number; mask: number };
  /** Table number, or 'main'. */
  table: number | 'main';
}

interface KernelRule {
  priority: number;
  src?: string;
  srclen?: number;
  dst?: string;
  fwmark?: string;
  fwmask?: string;
  table?: string;
}

function tableName(t: number | 'main'): string {
  return t === 'main' || t === 254 ? 'main' : String(t);
}

function selector(r: Rule): string[] {
  const out: string[] = [];
  if (r.from) out.push('from', r.from);
  if (r.fwmark) out.push('fwmark', `0x${r.fwmark.mark.toString(16)}/0x${r.fwmark.mask.toString(16)}`);
  return out;
}

function sameSelector(k: KernelRule, r: Rule): boolean {
  const src = k.src === undefined || k.src === 'all' ? undefined : k.src;
  if ((r.from ?? undefined) !== src) return false;
  if (k.srclen !== undefined && k.srclen !== 32) return false;
  if (k.dst !== undefined) return false;
  if (r.fwmark) {
    return (
      k.fwmark !== undefined &&
      Number(k.fwmark) === r.fwmark.mark &&
      Number(k.fwmask ?? '0xffffffff') === r.fwmark.mask
    );
  }
  return k.fwmark === undefined;
}

export async function listRules(exec: HostExec): Promise<KernelRule[]> {
  return exec.ipJson<KernelRule>(['rule', 'show']);
}

/**
 * Makes exactly one rule with this priority and selector, pointing at `table`: adds it if missing and
 * deletes any rule with the same priority and selector that points elsewhere (a stale table).
 * Returns the `ip -batch` lines to run.
 */
export function ensureRuleLines(existing: KernelRule[], r: Rule): string[] {
  const same = existing.filter((k) => k.priority === r.priority && sameSelector(k, r));
  const want = tableName(r.table);
  const lines: string[] = [];
  let present = false;
  for (const k of same) {
    if (k.table === want && !present) present = true;
    else
      lines.push(
        ['rule', 'del', 'priority', String(r.priority), ...selector(r), 'table', String(k.table)].join(' '),
      );
  }
  if (!present)
    lines.push(['rule', 'add', 'priority', String(r.priority), ...selector(r), 'table', want].join(' '));
  return lines;
}

/** The `ip -batch` lines that delete every rule with this priority and selector (any table). */
export function removeRuleLines(existing: KernelRule[], r: Omit<Rule, 'table'>): string[] {
  return existing
    .filter((k) => k.priority === r.priority && sameSelector(k, { ...r, table: 'main' }))
    .map((k) =>
      [
        'rule',
        'del',
        'priority',
        String(r.priority),
        ...selector({ ...r, table: 'main' }),
        'table',
        String(k.table),
      ].join(' '),
    );
}
