// The command dispatcher, separate from the commands (as libcni's skel): CNI_COMMAND → environment →
// config on stdin → version checks → the namespace check (one for every command: never the node's own)
// → the attachment's lock (ADD, DEL, CHECK) → the command → the result or the error JSON on stdout. It
// returns what to print and the exit code; main.ts does the process I/O.
import { DaemonClient } from './client.js';
import { cmdAdd } from './commands/add.js';
import { cmdCheck } from './commands/check.js';
import { cmdDel } from './commands/del.js';
import { cmdGc } from './commands/gc.js';
import { cmdStatus } from './commands/status.js';
import { DEADLINE, type Context } from './context.js';
import { checkNetns } from './datapath/netns.js';
import { parseCommand, parseEnv } from './env.js';
import { asCniError } from './errors.js';
import { AttachmentLock } from './lock.js';
import { log } from './log.js';
import { parseNetConf, peekVersion } from './netconf.js';
import { formatResult } from './result.js';
import { CURRENT_VERSION, requireCommandAllowed, SUPPORTED_VERSIONS } from './version.js';

export interface Outcome {
  stdout: string;
  exitCode: number;
}

export async function dispatch(env: NodeJS.ProcessEnv, readStdin: () => Buffer): Promise<Outcome> {
  let version: string = CURRENT_VERSION;
  let client: DaemonClient | null = null;
  let lock: AttachmentLock | null = null;
  try {
    const command = parseCommand(env);
    const stdin = readStdin();
    version = peekVersion(stdin.toString('utf8')) ?? CURRENT_VERSION;
    if (command === 'VERSION') {
      const asked = (SUPPORTED_VERSIONS as readonly string[]).includes(version) ? version : CURRENT_VERSION;
      return {
        stdout: JSON.stringify({ cniVersion: asked, supportedVersions: SUPPORTED_VERSIONS }),
        exitCode: 0,
      };
    }
    const cniEnv = parseEnv(command, env);
    const conf = parseNetConf(stdin);
    version = conf.cniVersion;
    requireCommandAllowed(command, version);
    log.configure(conf.logFile, conf.logLevel, {
      cmd: command,
      containerId: cniEnv.containerId || undefined,
      ifname: cniEnv.ifname || undefined,
      netns: cniEnv.netns || undefined,
      pod: cniEnv.args.name ? `${cniEnv.args.namespace}/${cniEnv.args.name}` : undefined,
    });
    // Before anything is touched: a namespace that is the node's own is refused by every command.
    const netns = cniEnv.netns === '' ? null : checkNetns(command, cniEnv.netns);
    // A prevResult we cannot parse fails ADD and CHECK (code 6); DEL goes on without it (del.ts).
    if (conf.prevResultError && command !== 'DEL') throw conf.prevResultError;
    if (command === 'ADD' || command === 'DEL' || command === 'CHECK')
      lock = AttachmentLock.acquire(
        conf.lockDir,
        { network: conf.name, containerId: cniEnv.containerId, ifname: cniEnv.ifname },
        DEADLINE.lock,
        log,
      );
    client = new DaemonClient(conf.socket);
    const ctx: Context = { conf, env: cniEnv, netns, client, log };
    switch (command) {
      case 'ADD':
        return { stdout: JSON.stringify(formatResult(await cmdAdd(ctx), version)), exitCode: 0 };
      case 'DEL':
        await cmdDel(ctx);
        break;
      case 'CHECK':
        await cmdCheck(ctx);
        break;
      case 'GC':
        await cmdGc(ctx);
        break;
      case 'STATUS':
        await cmdStatus(ctx);
        break;
    }
    return { stdout: '', exitCode: 0 };
  } catch (err) {
    const e = asCniError(err);
    log.error(e.message, { code: e.code, details: e.details || undefined });
    return { stdout: JSON.stringify(e.toJSON(version)), exitCode: 1 };
  } finally {
    client?.close();
    lock?.release();
    log.flush();
  }
}
