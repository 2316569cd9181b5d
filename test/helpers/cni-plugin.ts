// Runs the built plugin (dist/bin/tidepool, the self-contained executable) as a runtime would: CNI_* in the
// environment, the config on stdin, inside a host namespace of the test (so the root namespace is never
// touched), with no `node` on PATH (a node's host has none).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { pathWithoutNode } from '../../lab/plugin.js';
import type { Netns } from './netns.js';

export const PLUGIN = resolve('dist/bin/tidepool');

/**
 * This process's PATH with no `node` on it (the pinned one and Debian's /usr/bin/node): every other
 * program stays reachable (lab/plugin.ts).
 */
export const PATH_WITHOUT_NODE = pathWithoutNode();

/**
 * Throws unless `path` is an ELF executable (not a `#!` script that needs an interpreter) and no `node` is
 * to be found on PATH_WITHOUT_NODE.
 */
export function assertSelfContained(path = PLUGIN): void {
  const head = Buffer.alloc(4);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (!head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])))
    throw new Error(`${path} is not an ELF executable (it starts with ${JSON.stringify(head.toString())})`);
  const withNode = PATH_WITHOUT_NODE.split(delimiter).filter((d) => existsSync(join(d, 'node')));
  if (withNode.length) throw new Error(`PATH_WITHOUT_NODE still has a node in ${withNode.join(', ')}`);
}

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The parsed stdout (result or error JSON), or null when stdout was empty. */
  json: any;
  ms: number;
}

export interface Invocation {
  command?: string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  /** Extra or overriding environment (a value of undefined removes the variable). */
  env?: Record<string, string | undefined>;
  stdin: string | Buffer;
}

export function runPlugin(host: Netns, inv: Invocation): Promise<PluginRun> {
  const env: NodeJS.ProcessEnv = { PATH: PATH_WITHOUT_NODE };
  const set = (k: string, v: string | undefined) => {
    if (v !== undefined) env[k] = v;
  };
  set('CNI_COMMAND', inv.command);
  set('CNI_CONTAINERID', inv.containerId);
  set('CNI_NETNS', inv.netns);
  set('CNI_IFNAME', inv.ifname);
  set('CNI_ARGS', inv.args);
  set('CNI_PATH', '/usr/lib/cni');
  for (const [k, v] of Object.entries(inv.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const started = performance.now();
  return new Promise((done) => {
    const child = spawn('ip', ['netns', 'exec', host.name, PLUGIN], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => {}); // the plugin may answer before reading a huge stdin
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString();
      let json: any = null;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : null;
      } catch {
        json = { unparsable: stdout };
      }
      done({
        code: code ?? -1,
        stdout,
        stderr: Buffer.concat(err).toString(),
        json,
        ms: performance.now() - started,
      });
    });
    child.stdin.end(inv.stdin);
  });
}
