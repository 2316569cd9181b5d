// The bad-input corpus's shape, shared by the plugin's corpus (test/e2e/cni-bad-input.test.ts) and the
// daemon API's (a sibling file): each case names what is wrong, the code it must be answered with, and how
// to send it; the runner takes the leftovers (links, addresses, routes, rules, nftables of the namespaces,
// the daemon's allocations, whatever else the suite names) before and after each case and requires them
// equal: bad input leaves nothing behind.
import { execFileSync } from 'node:child_process';
import type { Netns } from './netns.js';

/** How a case was answered: `code` is the CNI error code (or gRPC status), 0 for success. */
export interface Outcome {
  code: number;
  msg?: string;
}

export interface BadInputCase<E> {
  what: string;
  /** The code the case must be answered with; 0 means it must succeed (a DEL that must not block). */
  code: number;
  send: (env: E) => Promise<Outcome>;
  /** The case must have reached the daemon's Allocate (and had it rolled back). */
  allocates?: boolean;
}

export interface CorpusOptions<E> {
  env: () => E;
  /** Everything that must be unchanged by a case. */
  leftovers: () => Promise<unknown>;
  /** Allocate calls served so far, for the cases that must reach it. */
  allocateCalls?: () => Promise<number>;
}

/** Registers one test per case. */
export function runCorpus<E>(cases: BadInputCase<E>[], opts: CorpusOptions<E>): void {
  it.each(cases.map((c) => [c.what, c.code, c] as const))('%s: code %d', async (_what, _code, c) => {
    const before = await opts.leftovers();
    const calls = c.allocates ? await opts.allocateCalls!() : 0;
    const out = await c.send(opts.env());
    expect(out.code).toBe(c.code);
    if (c.code !== 0) expect(typeof out.msg).toBe('string');
    expect(await opts.leftovers()).toEqual(before);
    if (c.allocates) expect(await opts.allocateCalls!()).toBeGreaterThan(calls);
  });
}

/**
 * A namespace's links, addresses, routes of every table, rules and nftables ruleset in one shell (the
 * operational state left out: the kernel settles it asynchronously).
 */
export function netState(ns: Netns): string {
  const script = [
    'ip -o link show | sed -E "s/^[0-9]+: //; s/ +qlen.*//; s/ state [A-Z]+ / /"',
    'echo ---; ip -o -4 addr show',
    'echo ---; ip route show table all | grep -v "^local\\|^broadcast\\|^multicast\\|^fe80\\|^ff00\\|^::1\\|^anycast" || true',
    'echo ---; ip rule show',
    'echo ---; nft list ruleset 2>/dev/null || true',
  ].join('; ');
  return execFileSync('ip', ['netns', 'exec', ns.name, 'sh', '-c', script], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => !/ifindex|^\s*$/.test(l))
    .join('\n');
}
