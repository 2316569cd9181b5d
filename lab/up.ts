// `lab up`: builds the whole lab. Order matters for crash safety: every namespace, process and directory
// is written to the manifest before it is created, so `lab down` removes it whatever point `up` died at.
//   1. vpc and internet namespaces; the cloud's processes (the sim server) in the vpc namespace
//   2. the fabric's fixed part (edge, source check); whoami servers on the internet
//   3. one instance per node in the cloud, one namespace per node
//   4. the fabric controller, which creates each node's eth0 as the cloud attached it
//   5. each node's "OS" network (eth0 address, default route), then its daemon
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCidr, subnetGateway } from '../config/net.js';
import type { LabCloud } from './cloud.js';
import { renderConflist } from './conflist.js';
import { record, writeManifest, type Manifest, type NodeRecord } from './manifest.js';
import { createNetns, runCommand, spawnInNetns } from './netns.js';
import { binary } from './paths.js';
import {
  addInternetReturnRoute,
  configureNodePrimary,
  INTERNET_SERVER,
  setupVpcNamespace,
  whoamiArgs,
} from './topology.js';
import { checkDaemonReady } from './plugin.js';
import { labNames } from './names.js';

export interface UpContext {
  m: Manifest;
  cloud: LabCloud;
  /** argv that runs `lab _fabric` (the controller) as a process. */
  fabricArgv: string[];
  log: (msg: string) => void;
}

async function startProcess(
  ctx: UpContext,
  name: string,
  netns: string,
  argv: string[],
  env: Record<string, string>,
): Promise<void> {
  const r = record(ctx.m, { kind: 'process', name, netns });
  const p = spawnInNetns(netns, argv, {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    logFile: join(ctx.m.stateDir, `${name}.log`),
    labId: ctx.m.stateDir,
  });
  if (r.kind === 'process') r.pid = p.pid;
  writeManifest(ctx.m);
}

async function waitFor(
  what: string,
  fn: () => Promise<boolean>,
  timeoutMs: number,
  logFile?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${logFile ? ` (see ${logFile})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function labUp(ctx: UpContext): Promise<void> {
  const { m, cloud, log } = ctx;
  const names = labNames(m.prefix);
  const socat = binaryOnPath('socat');

  for (const [ns, role] of [
    [names.vpc, 'vpc'],
    [names.internet, 'internet'],
  ] as const) {
    record(m, { kind: 'netns', name: ns, role });
    await createNetns(ns);
  }

  for (const p of cloud.processes()) {
    log(`starting ${p.name}`);
    await startProcess(ctx, p.name, names.vpc, p.argv, p.env);
    await p.ready();
  }
  m.vpcCidrs = await cloud.vpcCidrs();
  writeManifest(m);
  await setupVpcNamespace(names.vpc, names.internet, m.vpcCidrs);

  // Internet hosts that answer with the address they see (TCP and UDP): proof of SNAT.
  for (const proto of ['tcp', 'udp'] as const)
    await startProcess(
      ctx,
      `whoami-${proto}`,
      names.internet,
      [socat, ...whoamiArgs(proto, INTERNET_SERVER)],
      {},
    );

  for (let i = 1; i <= m.options.nodes; i++) {
    const name = `node-${i}`;
    const inst = await cloud.launchInstance(m.options.instanceType, name);
    const dir = join(m.stateDir, name);
    const node: NodeRecord = { name, netns: names.node(name), ...inst, socket: join(dir, 'ipamd.sock'), dir };
    m.nodes.push(node);
    record(m, { kind: 'netns', name: node.netns, role: 'node' });
    await createNetns(node.netns);
    mkdirSync(join(dir, 'state'), { recursive: true });
    log(`${name}: instance ${inst.instanceId}, primary ${inst.primaryAddress} (${inst.mac})`);
  }

  log('starting the fabric controller');
  await startProcess(ctx, 'fabric', names.vpc, ctx.fabricArgv, {});
  for (const node of m.nodes) {
    await waitFor(
      `the fabric to attach ${node.name}'s primary interface`,
      async () => (await runCommand(['ip', '-n', node.netns, 'link', 'show', 'eth0'])).code === 0,
      15_000,
      join(m.stateDir, 'fabric.log'),
    );
    const prefixLen = parseCidr(node.subnetCidr).bits;
    await configureNodePrimary(
      node.netns,
      'eth0',
      node.primaryAddress,
      prefixLen,
      subnetGateway(node.subnetCidr),
    );
    await addInternetReturnRoute(names.internet, node.primaryAddress);
  }

  if (m.options.daemon === 'none') {
    // Another CNI's agent is started on the nodes by the caller (the benchmarks' real AWS VPC CNI).
    m.ready = true;
    writeManifest(m);
    return;
  }
  const daemon = binary('daemon');
  for (const node of m.nodes) {
    const env = daemonEnv(m, node, cloud);
    const conflist = renderConflist(env, node.socket, join(node.dir, 'plugin.log'));
    writeFileSync(join(node.dir, '10-tidepool.conflist'), JSON.stringify(conflist, null, 2) + '\n');
    writeFileSync(
      join(node.dir, 'daemon.env'),
      Object.entries(env)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );
    log(`${node.name}: starting tidepool-ipamd`);
    await startProcess(ctx, `ipamd-${node.name}`, node.netns, [daemon], env);
  }
  for (const node of m.nodes) {
    const logFile = join(m.stateDir, `ipamd-${node.name}.log`);
    await waitFor(
      `${node.name}'s daemon to serve an address`,
      () => checkDaemonReady(m, node),
      30_000,
      logFile,
    );
  }
  m.ready = true;
  writeManifest(m);
}

export function daemonEnv(m: Manifest, node: NodeRecord, cloud: LabCloud): Record<string, string> {
  return {
    ...cloud.daemonEnv(node.instanceId),
    MY_NODE_NAME: node.name,
    TIDEPOOL_SOCKET: node.socket,
    TIDEPOOL_STATE_DIR: join(node.dir, 'state'),
    TIDEPOOL_MANAGE_HOST_NETWORK: 'true',
    TIDEPOOL_POOL_POLICY: m.options.policy,
    AWS_VPC_K8S_CNI_LOGLEVEL: 'debug',
    AWS_VPC_K8S_CNI_LOG_FILE: 'stdout',
    // Each daemon is alone in its namespace, so the default loopback ports never collide.
    ...m.options.env,
  };
}

function binaryOnPath(name: string): string {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`${name} is not installed (scripts/setup.sh installs it)`);
}
