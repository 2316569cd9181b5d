// The CNI_* environment variables (reference 1.2), checked as libcni's skel checks them: a missing or
// malformed variable is code 4 naming it. CNI_ARGS is "K=V;K2=V2" in any order; unknown keys are refused
// unless IgnoreUnknown is set, as the reference plugins do.
import { CniError, ErrorCode } from './errors.js';

export type Command = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
const COMMANDS: Command[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'];

export interface PodArgs {
  namespace: string;
  name: string;
  infraContainerId: string;
  uid: string;
}

export interface CniEnv {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  args: PodArgs;
}

const ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_ID_BYTES = 256; // the daemon's limit on keys (ipamd/requests.ts)
/** IFNAMSIZ (16) counts the terminating NUL: a name is at most 15 bytes, whatever its characters. */
export const MAX_IFNAME_BYTES = 15;
const PATH_MAX = 4095;
const KNOWN_ARGS: Record<string, keyof PodArgs | null> = {
  K8S_POD_NAMESPACE: 'namespace',
  K8S_POD_NAME: 'name',
  K8S_POD_INFRA_CONTAINER_ID: 'infraContainerId',
  K8S_POD_UID: 'uid',
  IgnoreUnknown: null,
};
// Kubernetes' own rules for the names it passes (RFC 1123 label and subdomain), as the daemon checks them.
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const POD_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const UID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

const envError = (msg: string) => new CniError(ErrorCode.InvalidEnvironment, msg);
const show = (s: string) => JSON.stringify(s);

/**
 * A value Node decoded from bytes that are not UTF-8 holds U+FFFD where they were: refused, as are control
 * characters (a newline in a name would start a new line of an `ip -batch` script or a log line).
 */
function requireText(name: string, value: string): void {
  if (value.includes('\uFFFD')) throw envError(`${name} ${show(value)} is not valid UTF-8`);
  if (/[\u0000-\u001f\u007f]/.test(value))
    throw envError(`${name} ${show(value)} contains control characters`);
}

export function parseCommand(env: NodeJS.ProcessEnv): Command {
  const c = env.CNI_COMMAND;
  if (!c) throw envError('required env variables [CNI_COMMAND] missing');
  if (!COMMANDS.includes(c as Command)) throw envError(`unknown CNI_COMMAND: ${show(c)}`);
  return c as Command;
}

export function parseArgs(text: string): PodArgs {
  const args: PodArgs = { namespace: '', name: '', infraContainerId: '', uid: '' };
  if (text === '') return args;
  requireText('CNI_ARGS', text);
  const pairs = text.split(';').filter((p) => p !== '');
  const unknown: string[] = [];
  const seen = new Set<string>();
  let ignoreUnknown = false;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw envError(`CNI_ARGS: ${show(pair)} is not KEY=VALUE`);
    const k = pair.slice(0, eq);
    const v = pair.slice(eq + 1);
    // Two values for one key: which one the daemon, the veth name and the log would use is a guess.
    if (seen.has(k)) throw envError(`CNI_ARGS: ${k} is given twice`);
    seen.add(k);
    if (k === 'IgnoreUnknown') ignoreUnknown = ['1', 'true', 'True', 'TRUE'].includes(v);
    else if (k in KNOWN_ARGS) args[KNOWN_ARGS[k]!] = v;
    else unknown.push(k);
  }
  if (unknown.length > 0 && !ignoreUnknown) throw envError(`CNI_ARGS: unknown args [${unknown.join(' ')}]`);
  if (args.namespace !== '' && !NAMESPACE.test(args.namespace))
    throw envError(`CNI_ARGS: K8S_POD_NAMESPACE ${show(args.namespace)} is not a Kubernetes namespace name`);
  if (args.name !== '' && !POD_NAME.test(args.name))
    throw envError(`CNI_ARGS: K8S_POD_NAME ${show(args.name)} is not a Kubernetes pod name`);
  if (args.uid !== '' && !UID.test(args.uid))
    throw envError(`CNI_ARGS: K8S_POD_UID ${show(args.uid)} is not a pod UID`);
  if (args.infraContainerId !== '' && !ID.test(args.infraContainerId))
    throw envError(
      `CNI_ARGS: K8S_POD_INFRA_CONTAINER_ID ${show(args.infraContainerId)} is not a container id`,
    );
  return args;
}

/**
 * libcni's rules (at most 15, not "." or "..", no '/', ':' or whitespace), with the length in bytes as the
 * kernel counts it, and none of the characters `ip -batch` reads as syntax (a '#' starts a comment, quotes
 * and backslashes are unquoted): "eth0#x" would reach the kernel as "eth0".
 */
export function checkIfname(ifname: string, name = 'CNI_IFNAME'): void {
  requireText(name, ifname);
  const bytes = Buffer.byteLength(ifname, 'utf8');
  if (bytes > MAX_IFNAME_BYTES)
    throw envError(
      `${name} ${show(ifname)} is ${bytes} bytes; an interface name is at most ${MAX_IFNAME_BYTES} (IFNAMSIZ)`,
    );
  if (ifname === '.' || ifname === '..') throw envError(`${name} must not be ${show(ifname)}`);
  if (/[/:\s]/.test(ifname))
    throw envError(`${name} ${show(ifname)} must not contain '/', ':' or whitespace`);
  if (/[#"'\\]/.test(ifname))
    throw envError(`${name} ${show(ifname)} must not contain '#', quotes or backslashes`);
}

export function checkContainerId(id: string, name = 'CNI_CONTAINERID'): void {
  requireText(name, id);
  if (!ID.test(id)) throw envError(`${name} ${show(id)} must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`);
  if (id.length > MAX_ID_BYTES) throw envError(`${name} is ${id.length} bytes; the limit is ${MAX_ID_BYTES}`);
}

function checkNetnsPath(path: string): void {
  requireText('CNI_NETNS', path);
  if (!path.startsWith('/')) throw envError(`CNI_NETNS ${show(path)} must be an absolute path`);
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > PATH_MAX) throw envError(`CNI_NETNS is ${bytes} bytes; a path is at most ${PATH_MAX}`);
}

/** Checks what `command` needs (skel's table at libcni HEAD; CNI_NETNS is optional for DEL). */
export function parseEnv(command: Command, env: NodeJS.ProcessEnv): CniEnv {
  const out: CniEnv = {
    command,
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifname: env.CNI_IFNAME ?? '',
    args: parseArgs(env.CNI_ARGS ?? ''),
  };
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') {
    const missing = [
      out.containerId === '' && 'CNI_CONTAINERID',
      out.netns === '' && command !== 'DEL' && 'CNI_NETNS',
      out.ifname === '' && 'CNI_IFNAME',
    ].filter(Boolean);
    if (missing.length > 0) throw envError(`required env variables [${missing.join(',')}] missing`);
    checkContainerId(out.containerId);
    checkIfname(out.ifname);
  }
  // Whatever the command, a netns that is given is checked (GC and STATUS do not use one).
  if (out.netns !== '') checkNetnsPath(out.netns);
  return out;
}
