// Runs the real CNI plugin (dist/bin/tidepool, a self-contained executable) as a runtime does: inside the
// node's namespace, with the CNI_* environment and the network configuration on stdin, reading the result
// (or the error JSON) from stdout. Its PATH has no `node`, as on a cluster node's host.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pluginConfig, type Conflist } from './conflist.js';
import type { Manifest, NodeRecord } from './manifest.js';
import { netnsPath, runCommand } from './netns.js';
import { binary, binDir } from './paths.js';

export class PluginError extends Error {
  constructor(
    readonly command: string,
    readonly code: number,
    readonly output: string,
  ) {
    super(`plugin ${command} failed (exit ${code}): ${output.trim()}`);
    this.name = 'PluginError';
  }
}

export interface PluginCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';
  containerId?: string;
  netns?: string;
  ifname?: string;
  podNamespace?: string;
  podName?: string;
  prevResult?: unknown;
}

const NODE_NAMES = /^(node|nodejs|npm|npx|corepack)$/;
/** Where the mirrors of PATH directories without their `node` are kept (a cache: idempotent, shared). */
export const NO_NODE_CACHE = '/var/cache/tidepool/path-without-node';
const noNodePaths = new Map<string, string>();

/**
 * `path` with no `node` on it: a directory that holds one (here /usr/bin, with Debian's Node, and the
 * pinned Node's bin) is replaced by a mirror of it, a directory of symbolic links to all of its other
 * programs, kept under NO_NODE_CACHE by the hash of the directory and its listing.
 */
export function pathWithoutNode(path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): string {
  const known = noNodePaths.get(path);
  if (known) return known;
  const dirs = path.split(delimiter).map((d) => {
    if (!d || !existsSync(join(d, 'node'))) return d;
    const names = readdirSync(d)
      .filter((n) => !NODE_NAMES.test(n))
      .sort();
    const mirror = join(
      NO_NODE_CACHE,
      createHash('sha256')
        .update(`${d}\0${names.join('\0')}`)
        .digest('hex')
        .slice(0, 16),
    );
    if (!existsSync(mirror)) {
      const tmp = `${mirror}.${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      for (const n of names) symlinkSync(join(d, n), join(tmp, n));
      try {
        renameSync(tmp, mirror);
      } catch {
        rmSync(tmp, { recursive: true, force: true }); // made at the same time by another process
      }
    }
    return mirror;
  });
  const result = dirs.filter(Boolean).join(delimiter);
  noNodePaths.set(path, result);
  return result;
}

export function pluginEnv(call: PluginCall): Record<string, string> {
  const env: Record<string, string> = {
    PATH: pathWithoutNode(),
    CNI_COMMAND: call.command,
    CNI_PATH: `${binDir()}:/usr/lib/cni`,
  };
  if (call.containerId) env.CNI_CONTAINERID = call.containerId;
  if (call.netns !== undefined) env.CNI_NETNS = call.netns ? netnsPath(call.netns) : '';
  if (call.ifname) env.CNI_IFNAME = call.ifname;
  if (call.podName) {
    env.CNI_ARGS = [
      'IgnoreUnknown=1',
      `K8S_POD_NAMESPACE=${call.podNamespace ?? 'default'}`,
      `K8S_POD_NAME=${call.podName}`,
      `K8S_POD_INFRA_CONTAINER_ID=${call.containerId}`,
    ].join(';');
  }
  return env;
}

export function readConflist(node: NodeRecord): Conflist {
  return JSON.parse(readFileSync(join(node.dir, '10-tidepool.conflist'), 'utf8')) as Conflist;
}

/** Another CNI's plugin run the same way (the benchmarks' real AWS VPC CNI): how to exec it, its list. */
export interface PluginRunner {
  /** argv that runs the plugin inside the node's namespaces. */
  argv: string[];
  conflist: Conflist;
  cniPath: string;
}

/** Runs the plugin in the node's namespace; returns its parsed stdout, throws PluginError on failure. */
export async function runPlugin(node: NodeRecord, call: PluginCall, runner?: PluginRunner): Promise<any> {
  const list = runner?.conflist ?? readConflist(node);
  const stdin = pluginConfig(list, 0, call.prevResult ? { prevResult: call.prevResult } : {});
  const env = pluginEnv(call);
  if (runner) env.CNI_PATH = runner.cniPath;
  const r = await runCommand(runner?.argv ?? ['ip', 'netns', 'exec', node.netns, binary('plugin')], {
    input: stdin,
    env,
    timeoutMs: 60_000,
  });
  if (r.code !== 0) throw new PluginError(call.command, r.code, r.stdout || r.stderr);
  return r.stdout.trim() ? JSON.parse(r.stdout) : null;
}

/** The daemon serves when the plugin's STATUS succeeds (the same check a runtime makes). */
export async function checkDaemonReady(_m: Manifest, node: NodeRecord): Promise<boolean> {
  try {
    await runPlugin(node, { command: 'STATUS' });
    return true;
  } catch {
    return false;
  }
}
