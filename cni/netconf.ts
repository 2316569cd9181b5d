// The network configuration the runtime sends on stdin (reference 1.1): the spec's keys, Tidepool's own
// fields, and the keys a runtime adds (prevResult, cni.dev/valid-attachments). Tidepool's fields:
//   socket     the daemon's gRPC Unix socket            default /run/tidepool/ipamd.sock
//   mtu        pod MTU when the daemon does not send one default 9001 (the daemon's POD_MTU wins)
//   vethPrefix prefix of host veth names, 1-4 chars     default "eni"
//   logFile    absolute path of the plugin's log file   default none (no log)
//   logLevel   trace|debug|info|warn|error|fatal|silent default "info"
//   lockDir    where the per-attachment locks live       default /run/tidepool/locks (root's, 0700)
//   statusGraceSeconds  STATUS stays ready this long after the daemon's last "ready" beat when the daemon
//              cannot be reached (a rolling restart), 0-600   default 0 (the daemon's conflist sets it)
import { isUtf8 } from 'node:buffer';
import { checkContainerId, checkIfname } from './env.js';
import { CniError, ErrorCode } from './errors.js';
import { parseDns, parseResult, type Dns, type Result } from './result.js';
import { requireSupported } from './version.js';

/** Where the per-attachment locks live (cni/lock.ts), unless the conflist says `lockDir`. */
export const DEFAULT_LOCK_DIR = '/run/tidepool/locks';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
const LOG_LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface Attachment {
  containerId: string;
  ifname: string;
}

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  socket: string;
  mtu: number | null;
  vethPrefix: string;
  logFile: string;
  logLevel: LogLevel;
  lockDir: string;
  statusGraceSeconds: number;
  dns?: Dns;
  prevResult: Result | null;
  /**
   * Why the prevResult the runtime sent could not be used (prevResult is then null). ADD and CHECK refuse
   * the request with it (code 6); DEL logs it and cleans up what the daemon names: a DEL that failed on our
   * own parse error would block the pod's deletion for ever (issue 11, defect 4).
   */
  prevResultError: CniError | null;
  /** GC only: the attachments the runtime still holds; null when the runtime sent no list at all. */
  validAttachments: Attachment[] | null;
}

export const DEFAULT_SOCKET = '/run/tidepool/ipamd.sock';
export const MAX_CONFIG_BYTES = 1 << 20;
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const VERSION = /^\d+\.\d+\.\d+$/;

const invalid = (msg: string) => new CniError(ErrorCode.InvalidNetworkConfig, msg);
const unsupported = (key: string, value: unknown, why: string) =>
  new CniError(ErrorCode.UnsupportedField, `unsupported field ${key}=${JSON.stringify(value)}: ${why}`);

/** Reads only cniVersion, so that errors found later are reported in the caller's version. */
export function peekVersion(text: string): string | null {
  try {
    const v = (JSON.parse(text) as { cniVersion?: unknown })?.cniVersion;
    return typeof v === 'string' && VERSION.test(v) ? v : null;
  } catch {
    return null;
  }
}

function parseJson(bytes: Buffer): Record<string, unknown> {
  if (bytes.length === 0) throw new CniError(ErrorCode.DecodingFailure, 'no network configuration on stdin');
  if (bytes.length > MAX_CONFIG_BYTES)
    throw invalid(`network configuration is ${bytes.length} bytes; the limit is ${MAX_CONFIG_BYTES}`);
  // JSON is UTF-8 (RFC 8259); decoding other bytes would turn them into U+FFFD silently.
  if (!isUtf8(bytes))
    throw new CniError(ErrorCode.DecodingFailure, 'network configuration is not valid UTF-8');
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      'network configuration is not valid JSON',
      (err as Error).message,
    );
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new CniError(ErrorCode.DecodingFailure, 'network configuration must be a JSON object');
  return raw as Record<string, unknown>;
}

function attachments(raw: Record<string, unknown>): Attachment[] | null {
  // libcni sends both keys (spec-v1.1.0 said cni.dev/attachments, later text cni.dev/valid-attachments).
  const lists = ['cni.dev/valid-attachments', 'cni.dev/attachments'].filter((k) => raw[k] !== undefined);
  if (lists.length === 0) return null;
  const out = new Map<string, Attachment>();
  for (const k of lists) {
    if (!Array.isArray(raw[k])) throw invalid(`${k} must be a list of {containerID, ifname}`);
    for (const a of raw[k] as unknown[]) {
      const o = a as Record<string, unknown>;
      if (!o || typeof o.containerID !== 'string' || typeof o.ifname !== 'string')
        throw invalid(`${k} entries must be {"containerID": string, "ifname": string}`);
      // The same rules as CNI_CONTAINERID and CNI_IFNAME: an entry that breaks them names no attachment.
      try {
        checkContainerId(o.containerID, `${k} containerID`);
        checkIfname(o.ifname, `${k} ifname`);
      } catch (err) {
        throw invalid((err as Error).message);
      }
      out.set(`${o.containerID}/${o.ifname}`, { containerId: o.containerID, ifname: o.ifname });
    }
  }
  return [...out.values()];
}

export function parseNetConf(bytes: Buffer): NetConf {
  const raw = parseJson(bytes);
  const version = raw.cniVersion ?? '0.1.0'; // an absent version means 0.1.0 (libcni ConfigDecoder)
  if (typeof version !== 'string' || !VERSION.test(version))
    throw new CniError(ErrorCode.DecodingFailure, `cniVersion must be a version string such as "1.0.0"`);
  requireSupported(version);
  if (typeof raw.name !== 'string' || !NAME.test(raw.name))
    throw invalid(`network name ${JSON.stringify(raw.name ?? '')} must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`);
  if (typeof raw.type !== 'string' || raw.type === '' || raw.type.includes('/'))
    throw invalid('type must be the plugin binary name');
  if (raw.ipam !== undefined)
    throw unsupported('ipam', raw.ipam, 'tidepool allocates addresses through its daemon');

  const socket = raw.socket ?? DEFAULT_SOCKET;
  if (typeof socket !== 'string' || !socket.startsWith('/')) throw invalid('socket must be an absolute path');
  const mtu = raw.mtu ?? null;
  if (mtu !== null && (!Number.isInteger(mtu) || (mtu as number) < 576 || (mtu as number) > 9001))
    throw invalid(`mtu ${JSON.stringify(mtu)} must be an integer from 576 to 9001`);
  const vethPrefix = raw.vethPrefix ?? 'eni';
  if (typeof vethPrefix !== 'string' || !/^[a-zA-Z][a-zA-Z0-9]{0,3}$/.test(vethPrefix))
    throw invalid(`vethPrefix ${JSON.stringify(vethPrefix)} must be 1 to 4 letters or digits`);
  if (['eth', 'vlan', 'lo'].includes(vethPrefix)) throw invalid(`vethPrefix must not be ${vethPrefix}`);
  const logFile = raw.logFile ?? '';
  if (typeof logFile !== 'string' || (logFile !== '' && !logFile.startsWith('/')))
    throw invalid('logFile must be an absolute path');
  const logLevel = raw.logLevel ?? 'info';
  if (!LOG_LEVELS.includes(logLevel as LogLevel))
    throw invalid(`logLevel must be one of ${LOG_LEVELS.join(', ')}`);
  const dns = parseDns(raw.dns, (what) => invalid(what));
  const lockDir = raw.lockDir ?? DEFAULT_LOCK_DIR;
  if (typeof lockDir !== 'string' || !lockDir.startsWith('/') || /[\u0000-\u001f]/.test(lockDir))
    throw invalid('lockDir must be an absolute path');
  const statusGraceSeconds: unknown = raw.statusGraceSeconds ?? 0;
  if (
    typeof statusGraceSeconds !== 'number' ||
    !Number.isInteger(statusGraceSeconds) ||
    statusGraceSeconds < 0 ||
    statusGraceSeconds > 600
  )
    throw invalid(
      `statusGraceSeconds ${JSON.stringify(statusGraceSeconds)} must be an integer from 0 to 600`,
    );
  let prevResult: Result | null = null;
  let prevResultError: CniError | null = null;
  if (raw.prevResult !== undefined && raw.prevResult !== null) {
    try {
      prevResult = parseResult(raw.prevResult);
    } catch (err) {
      if (!(err instanceof CniError)) throw err;
      prevResultError = err;
    }
  }

  return {
    cniVersion: version,
    name: raw.name,
    type: raw.type,
    socket,
    mtu: mtu as number | null,
    vethPrefix,
    logFile,
    logLevel: logLevel as LogLevel,
    lockDir,
    statusGraceSeconds,
    dns,
    prevResult,
    prevResultError,
    validAttachments: attachments(raw),
  };
}
