// `tidepoolctl demo` (npm run demo): Tidepool on one machine in about a minute. See options.ts for usage.
import { randomBytes } from 'node:crypto';
import { Cleanup } from './cleanup.js';
import { bringUpLab, LabUnavailableError } from './lab-adapter.js';
import { leftovers } from './leftovers.js';
import type { PoolSnapshot } from './lab-port.js';
import { DemoUsageError, parseDemoArgs, USAGE, type DemoOptions } from './options.js';
import { PreflightError, preflight } from './preflight.js';
import { ProgressDisplay } from './progress.js';
import { runScenario } from './scenario.js';
import { runKubernetesDemo } from './kubernetes.js';
import { defaultStateDir } from '../lab/names.js';
import { summaryLines } from './summary.js';

// What the lab and the demo run: iproute2, nftables, ping, nsenter, and socat (the lab's internet hosts).
const TOOLS = ['ip', 'nft', 'ping', 'nsenter', 'socat'];

export async function runDemo(argv: string[]): Promise<number> {
  let opts: DemoOptions;
  try {
    opts = parseDemoArgs(argv);
  } catch (err) {
    if (!(err instanceof DemoUsageError)) throw err;
    process.stderr.write(`tidepoolctl demo: ${err.message}\nrun tidepoolctl demo --help for usage\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  try {
    preflight('tidepool demo', opts.provider === 'azure' ? [...TOOLS, 'openssl'] : TOOLS);
  } catch (err) {
    if (!(err instanceof PreflightError)) throw err;
    process.stderr.write(`tidepoolctl demo: ${err.message}\n`);
    return err.exitCode;
  }

  const CLOUD_LINE = {
    sim: 'embedded EC2 simulator with realistic latency and throttling',
    localstack: 'LocalStack (EC2 API), daemons on the AWS provider',
    azure: 'ARM and IMDS doubles (Azure API), daemons on the Azure provider',
  };
  const out = process.stdout;
  const display = new ProgressDisplay(out, { tty: out.isTTY && !opts.plain });
  const say = (line: string) => display.log(line);
  const cleanup = new Cleanup();
  const signal = { stopped: false };
  cleanup.onSignals((sig) => {
    signal.stopped = true;
    process.stderr.write(`\ntidepoolctl demo: ${sig}: removing everything the demo made…\n`);
  });
  const t0 = Date.now();
  let made: { prefix: string; stateDir: string } | undefined;
  try {
    const runId = randomBytes(2).toString('hex');
    if (opts.kubernetes) {
      const prefix = `${process.env.TIDEPOOL_DEMO_PREFIX || 'tp-demo-'}${runId}-`;
      made = { prefix, stateDir: defaultStateDir(prefix) };
      const r = await runKubernetesDemo(opts, runId, say, cleanup, signal);
      display.close();
      return r.code;
    }
    say(
      `Tidepool demo: ${opts.nodes} node${opts.nodes === 1 ? '' : 's'} (${opts.instanceType}), ${opts.pods} pods, ` +
        `policy ${opts.policy}, cloud ${CLOUD_LINE[opts.provider]}`,
    );
    say('bringing up the lab: VPC fabric, internet, node namespaces, one daemon per node…');
    // A Ctrl-C while the lab comes up (LocalStack takes tens of seconds) removes what is made so far.
    let up = false;
    const lab = await bringUpLab({
      ...opts,
      runId,
      log: say,
      onStarted: (downSoFar) => cleanup.add('lab down (partial)', () => (up ? undefined : downSoFar())),
    });
    up = true;
    made = { prefix: lab.prefix, stateDir: lab.stateDir };
    cleanup.add('lab down', () => lab.down());
    if (signal.stopped) return 130;
    say(
      `lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${lab.nodes.join(', ')} ` +
        `(namespaces ${lab.prefix}*, state in ${lab.stateDir})`,
    );

    const result = await runScenario(lab, opts.pods, display, signal);
    if (signal.stopped) return 130;
    const pools = new Map<string, PoolSnapshot>();
    for (const node of lab.nodes) pools.set(node, await lab.pool(node));
    // The sim counts every call it serves; on LocalStack the daemons' own counters are read ("n/a" if not).
    const calls = await lab.cloudCalls().catch((err: Error) => {
      say(`cloud calls could not be counted: ${err.message}`);
      return null;
    });
    const scope =
      lab.cloudName === 'sim'
        ? ''
        : lab.cloudName === 'Azure'
          ? 'by the daemons to the ARM double'
          : `by the daemons to ${lab.cloudName} EC2`;
    for (const line of summaryLines(result, pools, calls, Date.now() - t0, scope)) out.write(line + '\n');
    const ok = result.failedAdds.length === 0 && result.unreachable.length === 0 && result.pods.length > 0;
    out.write(
      ok
        ? 'Every pod has a VPC address and answers from the other node.\n'
        : 'Some pods failed: see above.\n',
    );
    return ok ? 0 : 1;
  } catch (err) {
    if (err instanceof LabUnavailableError) {
      process.stderr.write(`tidepoolctl demo: ${err.message}\n`);
      return 69;
    }
    if (signal.stopped) return 130;
    process.stderr.write(`tidepoolctl demo: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  } finally {
    if (!signal.stopped) {
      out.write('removing the lab…\n');
      await cleanup.run();
      cleanup.offSignals();
      const left = made ? await leftovers(made.prefix, made.stateDir) : [];
      if (left.length) process.stderr.write(`tidepoolctl demo: left behind: ${left.join(', ')}\n`);
      else if (made) out.write('removed: no namespace, process or file of the demo is left.\n');
    }
  }
}
