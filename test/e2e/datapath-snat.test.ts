// SNAT settings end to end through the lab: exclusion CIDRs keep the pod's own address (and the NAT-less
// internet cannot answer it), and external SNAT turns Tidepool's SNAT and connmark off. Each lab has one
// node and its own prefix; the internet namespace counts who it sees with an nftables counter.
import { whoamiArgs } from '../../lab/topology.js';
import { inNs, Lab, run, testPrefix } from '../helpers/lab.js';

const SNATED = '203.0.113.10'; // the lab's whoami, outside the exclusion
const EXCLUDED = '203.0.113.200'; // inside AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS below
const PORT = 8080;

async function labWithPod(env: string[]): Promise<{ lab: Lab; pod: string; podNs: string; node: string }> {
  const lab = new Lab(testPrefix());
  await lab.must(['up', '--nodes', '1', ...env.flatMap((e) => ['--env', e])], 180_000);
  const out = await lab.must(['pod', 'add', 'node-1', 'p1']);
  const st = await lab.status();
  return { lab, pod: out.trim().split(/\s+/)[1], podNs: st.pods[0].netns, node: st.nodes[0].primaryAddress };
}

/** Counts, in the internet namespace, UDP datagrams to `dst` by source address. */
async function countArrivals(
  lab: Lab,
  sources: string[],
  dst: string,
): Promise<() => Promise<Record<string, number>>> {
  const ns = `${lab.prefix}internet`;
  const counters = sources.map((s, i) => `counter c${i} { }`).join('\n');
  const rules = sources
    .map((s, i) => `ip saddr ${s} ip daddr ${dst} udp dport ${PORT} counter name c${i}`)
    .join('\n');
  const script = `table ip seen {\n${counters}\nchain input { type filter hook prerouting priority -300; policy accept;\n${rules}\n}\n}\n`;
  const r = await run(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], { input: script });
  if (r.code !== 0) throw new Error(r.stderr);
  return async () => {
    const items = JSON.parse((await inNs(ns, ['nft', '-j', 'list', 'table', 'ip', 'seen'])).stdout)
      .nftables as any[];
    return Object.fromEntries(
      sources.map((s, i) => [s, items.find((x) => x.counter?.name === `c${i}`).counter.packets]),
    );
  };
}

async function udpWhoami(podNs: string, to: string): Promise<string> {
  const r = await run(['ip', 'netns', 'exec', podNs, 'socat', '-T2', '-t2', '-', `UDP:${to}:${PORT}`], {
    input: 'hello\n',
    timeoutMs: 10_000,
  });
  return r.stdout.trim();
}

describe('SNAT exclusions', () => {
  let ctx: Awaited<ReturnType<typeof labWithPod>>;
  beforeAll(async () => {
    ctx = await labWithPod(['AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS=203.0.113.128/25']);
    // A second whoami on an excluded internet host.
    const args = whoamiArgs('udp', EXCLUDED, PORT)
      .map((a) => `'${a}'`)
      .join(' ');
    await run(['sh', '-c', `ip netns exec ${ctx.lab.prefix}internet socat ${args} >/dev/null 2>&1 &`]);
  }, 240_000);
  afterAll(async () => {
    await ctx?.lab.down();
  }, 120_000);

  test('outside the exclusions the internet sees the node; inside, the pod itself, which it cannot answer', async () => {
    const seen = await countArrivals(ctx.lab, [ctx.pod, ctx.node], EXCLUDED);
    expect(await udpWhoami(ctx.podNs, SNATED)).toBe(ctx.node);
    expect(await udpWhoami(ctx.podNs, EXCLUDED)).toBe(''); // no route back to a pod address
    expect(await seen()).toEqual({ [ctx.pod]: 1, [ctx.node]: 0 });
  });
});

describe('external SNAT', () => {
  let ctx: Awaited<ReturnType<typeof labWithPod>>;
  beforeAll(async () => {
    ctx = await labWithPod(['AWS_VPC_K8S_CNI_EXTERNALSNAT=true']);
  }, 240_000);
  afterAll(async () => {
    await ctx?.lab.down();
  }, 120_000);

  test('no SNAT table and no connmark rule on the node; pods reach the internet with their own address', async () => {
    const nodeNs = `${ctx.lab.prefix}node-1`;
    expect((await inNs(nodeNs, ['nft', 'list', 'table', 'ip', 'tidepool'])).code).not.toBe(0);
    const rules = JSON.parse((await run(['ip', '-n', nodeNs, '-json', 'rule', 'show'])).stdout) as any[];
    expect(rules.filter((r) => r.priority === 1024)).toEqual([]);
    const seen = await countArrivals(ctx.lab, [ctx.pod, ctx.node], SNATED);
    expect(await udpWhoami(ctx.podNs, SNATED)).toBe('');
    expect(await seen()).toEqual({ [ctx.pod]: 1, [ctx.node]: 0 });
  });
});
