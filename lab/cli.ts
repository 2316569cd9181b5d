// `tidepoolctl lab …`: the one-machine lab. See usage below; every command takes --prefix (the
// namespace name prefix, unique per lab; default tp-, or $TIDEPOOL_LAB_PREFIX) and --state-dir (default
// /run/tidepool-lab/<prefix>).
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { loadSettings } from '../config/settings.js';
import type { CloudFactory } from './cloud.js';
import { labDown } from './down.js';
import { runFabricController } from './fabric-controller.js';
import { createManifest, manifestPath, readManifest, withLabLock, type Manifest } from './manifest.js';
import { defaultStateDir, DEFAULT_PREFIX, labNames, validatePrefix } from './names.js';
import { selfCommand } from './paths.js';
import { podAdd, podDel } from './pod.js';
import { azureLabCloud, DEFAULT_AZURE_VM_SIZE } from './azure-cloud.js';
import { localstackLabCloud } from './localstack-cloud.js';
import { simLabCloud } from './sim-cloud.js';
import { formatStatus, labStatus } from './status.js';
import { labUp } from './up.js';
import { requireK8sBinaries } from './k8s/control-plane.js';
import { joinKubeletNode, k8sLabUp, labHelm, labKubectl, waitForNodesServing } from './k8s/lab.js';
import { labImages } from './k8s/images.js';
import { importNodeImage, inNode } from './k8s/node.js';
import { resolve as resolvePath } from 'node:path';

export const USAGE = `usage: tidepoolctl lab COMMAND [--prefix P] [--state-dir DIR]
  up [--nodes N] [--provider sim|localstack|azure] [--instance-type T] [--policy aws-compatible|adaptive]
     [--env KEY=VALUE]... [--cloud-arg ARG]... [--kubernetes [--kubelets K]]
                           build the lab: vpc + internet namespaces, sim, fabric, N nodes with daemons
                           (--env goes to every daemon; --cloud-arg to the sim, e.g. --latency=realistic);
                           --kubernetes: a control plane, a containerd and kubelet on each node (the
                           first K; default all) and the chart's DaemonSet instead of the lab's daemons
  pod add NODE NAME        a pod namespace wired by the real plugin on NODE
  pod del NODE NAME        the plugin's DEL, then the namespace goes
  exec NODE|POD|vpc|internet -- CMD...
                           run CMD in that namespace
  status [--json]          nodes, interfaces the fabric routes, pods
  kubectl -- ARGS...       kubectl against the lab's Kubernetes (lab up --kubernetes)
  helm -- ARGS...          helm against the lab's Kubernetes
  join NODE                make a lab node without a kubelet a kubelet node, wait until it serves
  import-image FILE...     import OCI image archives into every kubelet node's containerd
  down                     remove every namespace, process and file of the lab`;

class UsageError extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string[]>;
  rest: string[];
}

const VALUE_FLAGS = new Set([
  '--cloud-arg',
  '--prefix',
  '--state-dir',
  '--nodes',
  '--instance-type',
  '--policy',
  '--env',
  '--provider',
  '--kubelets',
]);
const BOOL_FLAGS = new Set(['--json', '--help', '-h', '--kubernetes']);

function parse(argv: string[]): Parsed {
  const out: Parsed = { positional: [], flags: new Map(), rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.rest = argv.slice(i + 1);
      break;
    }
    const [name, inline] =
      a.startsWith('--') && a.includes('=')
        ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
        : [a, undefined];
    if (VALUE_FLAGS.has(name)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      out.flags.set(name, [...(out.flags.get(name) ?? []), v]);
    } else if (BOOL_FLAGS.has(name)) out.flags.set(name, ['true']);
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else out.positional.push(a);
  }
  return out;
}

function flag(p: Parsed, name: string): string | undefined {
  return p.flags.get(name)?.at(-1);
}

function intFlag(p: Parsed, name: string, def: number, min: number, max: number): number {
  const v = flag(p, name);
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`${name} must be an integer from ${min} to ${max}`);
  return Number(v);
}

const clouds: Record<string, CloudFactory> = {
  sim: simLabCloud,
  localstack: localstackLabCloud,
  azure: azureLabCloud,
};

function cloudFor(m: Manifest) {
  const factory = clouds[m.options.provider];
  if (!factory)
    throw new UsageError(`unknown provider ${m.options.provider} (known: ${Object.keys(clouds).join(', ')})`);
  return factory(m);
}

const log = (msg: string) => process.stderr.write(`lab: ${msg}\n`);

export async function runLab(argv: string[]): Promise<number> {
  let p: Parsed;
  try {
    p = parse(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (p.flags.has('--help') || p.flags.has('-h') || p.positional.length === 0) {
    process.stdout.write(USAGE + '\n');
    return p.positional.length === 0 && !p.flags.has('--help') && !p.flags.has('-h') ? 2 : 0;
  }
  try {
    const prefix = validatePrefix(flag(p, '--prefix') ?? process.env.TIDEPOOL_LAB_PREFIX ?? DEFAULT_PREFIX);
    const stateDir = flag(p, '--state-dir') ?? defaultStateDir(prefix);
    const [cmd, ...args] = p.positional;
    switch (cmd) {
      case 'up':
        return await up(p, prefix, stateDir, argv);
      case 'down': {
        if (!existsSync(manifestPath(stateDir))) {
          // `up` may have died between creating the directory and writing the manifest into it.
          if (existsSync(stateDir) && readdirSync(stateDir).every((f) => f === 'lock' || f.endsWith('.tmp')))
            rmSync(stateDir, { recursive: true, force: true });
          log(`no lab in ${stateDir}: nothing to remove`);
          return 0;
        }
        const errors = await withLabLock(stateDir, async () => labDown(readManifest(stateDir), log));
        for (const e of errors) log(e);
        return errors.length ? 1 : 0;
      }
      case 'pod': {
        const [sub, node, name] = args;
        if (!['add', 'del'].includes(sub) || !node || !name || args.length !== 3)
          throw new UsageError('usage: lab pod add|del NODE NAME');
        return await withLabLock(stateDir, async () => {
          const m = readManifest(stateDir);
          if (sub === 'add') {
            const pod = await podAdd(m, node, name);
            process.stdout.write(`${pod.name} ${pod.address}\n`);
          } else await podDel(m, node, name);
          return 0;
        });
      }
      case 'exec':
        if (args.length !== 1 || p.rest.length === 0)
          throw new UsageError('usage: lab exec NODE|POD|vpc|internet -- CMD...');
        return await exec(readManifest(stateDir), args[0], p.rest);
      case 'kubectl':
        return labKubectl(readManifest(stateDir), [...args, ...p.rest]);
      case 'helm':
        return labHelm(readManifest(stateDir), [...args, ...p.rest]);
      case 'import-image': {
        if (!args.length) throw new UsageError('usage: lab import-image FILE...');
        const m = readManifest(stateDir);
        const nodes = m.nodes.filter((n) => n.kube);
        if (!nodes.length) throw new Error('this lab has no kubelet nodes (lab up --kubernetes)');
        for (const f of args) {
          if (!existsSync(f)) throw new UsageError(`no such file: ${f}`);
          for (const n of nodes) await importNodeImage(n, resolvePath(f));
          log(`imported ${f} into ${nodes.map((n) => n.name).join(', ')}`);
        }
        return 0;
      }
      case 'join': {
        if (args.length !== 1) throw new UsageError('usage: lab join NODE');
        return await withLabLock(stateDir, async () => {
          const m = readManifest(stateDir);
          const node = m.nodes.find((n) => n.name === args[0]);
          if (!node) throw new UsageError(`no node named ${args[0]}`);
          if (!m.options.kubernetes) throw new Error('this lab has no Kubernetes (lab up --kubernetes)');
          await joinKubeletNode(m, node, labImages(log), log);
          await waitForNodesServing(m, [node.name]);
          log(`${node.name} joined and serves`);
          return 0;
        });
      }
      case 'status': {
        const s = labStatus(readManifest(stateDir));
        process.stdout.write((p.flags.has('--json') ? JSON.stringify(s, null, 2) : formatStatus(s)) + '\n');
        return 0;
      }
      case '_fabric':
        return await runFabricController(stateDir, cloudFor);
      default:
        throw new UsageError(`unknown lab command ${cmd}`);
    }
  } catch (e) {
    if (e instanceof UsageError) process.stderr.write(`${e.message}\n${USAGE}\n`);
    else process.stderr.write(`lab: ${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

async function up(p: Parsed, prefix: string, stateDir: string, argv: string[]): Promise<number> {
  if (existsSync(manifestPath(stateDir)))
    throw new Error(`a lab is already up in ${stateDir} (prefix ${prefix}); run \`lab down\` first`);
  const env: Record<string, string> = {};
  for (const kv of p.flags.get('--env') ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`--env needs KEY=VALUE, got ${kv}`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const provider = flag(p, '--provider') ?? 'sim';
  if (!clouds[provider])
    throw new UsageError(`unknown provider ${provider} (known: ${Object.keys(clouds).join(', ')})`);
  const policy = flag(p, '--policy') ?? 'aws-compatible';
  // Refuse bad daemon settings now, not after building half a lab and waiting for daemons that exit.
  loadSettings({ TIDEPOOL_POOL_POLICY: policy, ...env });
  const kubernetes = p.flags.has('--kubernetes');
  if (kubernetes) requireK8sBinaries();
  const nodes = intFlag(p, '--nodes', 2, 1, 16);
  const kubelets = intFlag(p, '--kubelets', nodes, 0, nodes);
  if (p.flags.has('--kubelets') && !kubernetes) throw new UsageError('--kubelets needs --kubernetes');
  if (kubernetes && provider !== 'sim')
    throw new UsageError(`--kubernetes runs on the sim cloud only (not tried with --provider ${provider})`);
  const self = selfCommand(argv);
  const m = createManifest(stateDir, prefix, {
    nodes,
    instanceType: flag(p, '--instance-type') ?? (provider === 'azure' ? DEFAULT_AZURE_VM_SIZE : 't3.medium'),
    policy,
    provider,
    env,
    cloudArgs: p.flags.get('--cloud-arg') ?? [],
    kubernetes,
    // On a cluster lab the chart's DaemonSet runs the daemons, not the lab.
    ...(kubernetes ? { daemon: 'none' as const } : {}),
  });
  try {
    await withLabLock(stateDir, () =>
      labUp({
        m,
        cloud: cloudFor(m),
        fabricArgv: [...self, '_fabric', '--prefix', prefix, '--state-dir', stateDir],
        log,
      }).then(() => (m.options.kubernetes ? k8sLabUp(m, cloudFor(m), log, { kubelets }) : undefined)),
    );
  } catch (e) {
    // What was created stays for inspection (logs in the state directory); down removes all of it.
    throw new Error(
      `${(e as Error).message}\nlab up failed; everything it created is listed in ${manifestPath(stateDir)}: ` +
        `remove it with \`tidepoolctl lab down --prefix ${prefix}\``,
    );
  }
  log(`lab ${prefix} is up: ${m.nodes.map((n) => `${n.name} ${n.primaryAddress}`).join(', ')}`);
  return 0;
}

function exec(m: Manifest, target: string, cmd: string[]): Promise<number> {
  const names = labNames(m.prefix);
  const ns =
    target === 'vpc'
      ? names.vpc
      : target === 'internet'
        ? names.internet
        : (m.nodes.find((n) => n.name === target)?.netns ?? m.pods.find((q) => q.name === target)?.netns);
  if (!ns) throw new UsageError(`no node or pod named ${target} (or vpc, internet)`);
  // A kubelet node is a machine of its own: its mount namespace too (its /var/lib/kubelet, /etc/cni/net.d).
  const machine = m.nodes.find((n) => n.name === target && n.kube);
  const argv = machine ? inNode(machine, cmd) : ['ip', 'netns', 'exec', ns, ...cmd];
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' });
    child.on('error', (e) => {
      process.stderr.write(`lab exec: ${e.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? (osConstants.signals[sig] ?? 1) : 1)));
  });
}
