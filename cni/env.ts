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
const KNOWN_ARGS: Record<string, keyof PodArgs | null> = {
  K8S_POD_NAMESPACE: 'namespace',
  K8S_POD_NAME: 'name',
  K8S_POD_INFRA_CONTAINER_ID: 'infraContainerId',
  K8S_POD_UID: 'uid',
  IgnoreUnknown: null,
};

const envError = (msg: string) => new CniError(ErrorCode.InvalidEnvironment, msg);

export function parseCommand(env: NodeJS.ProcessEnv): Command {
  const c = env.CNI_COMMAND;
  if (!c) throw envError('required env variables [CNI_COMMAND] missing');
  if (!COMMANDS.includes(c as Command)) throw envError(`unknown CNI_COMMAND: ${c}`);
  return c as Command;
}

export function parseArgs(text: string): PodArgs {
  const args: PodArgs = { namespace: '', name: '', infraContainerId: '', uid: '' };
  if (text === '') return args;
  const pairs = text.split(';').filter((p) => p !== '');
  const unknown: string[] = [];
  let ignoreUnknown = false;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw envError(`CNI_ARGS: "${pair}" is not KEY=VALUE`);
    const k = pair.slice(0, eq);
    const v = pair.slice(eq + 1);
    if (k === 'IgnoreUnknown') ignoreUnknown = ['1', 'true', 'True', 'TRUE'].includes(v);
    else if (k in KNOWN_ARGS) args[KNOWN_ARGS[k]!] = v;
    else unknown.push(k);
  }
  if (unknown.length > 0 && !ignoreUnknown) throw envError(`CNI_ARGS: unknown args [${unknown.join(' ')}]`);
  return args;
}

function checkIfname(ifname: string): void {
  if (ifname.length > 15) throw envError(`CNI_IFNAME "${ifname}" is longer than 15 characters`);
  if (ifname === '.' || ifname === '..') throw envError(`CNI_IFNAME must not be "${ifname}"`);
  if (/[/:\s]/.test(ifname)) throw envError(`CNI_IFNAME "${ifname}" must not contain '/', ':' or whitespace`);
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
    if (!ID.test(out.containerId) || out.containerId.length > 256)
      throw envError(`CNI_CONTAINERID "${out.containerId}" must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`);
    checkIfname(out.ifname);
    if (out.netns !== '' && !out.netns.startsWith('/'))
      throw envError(`CNI_NETNS "${out.netns}" must be an absolute path`);
  }
  return out;
}
