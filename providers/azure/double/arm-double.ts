// A local double of Azure Resource Manager's Microsoft.Network networkInterfaces API, for tests and the lab
// (providers/azure/double/main.ts serves it as a process, `tidepoolctl lab up --provider azure`): there is
// no emulator for it (reference azure-arm-and-kubernetes-anchors.md 3.5). Built from the public REST
// specification (azure-rest-api-specs, networkInterface.json: GET, PUT, list; the NetworkInterfaceGet and
// NetworkInterfaceCreate examples) and the documented behaviour:
// - PUT replaces the whole ipConfigurations list; the primary cannot be removed or renamed
//   (IpConfigDeleteNotSupported); new Dynamic configurations get the lowest free address of the subnet,
//   a privateIPAddressPrefixLength 28 one an aligned /28 (answered as "a.b.c.d/28", as in the example);
// - PUT answers 200 at once with provisioningState Updating and an Azure-AsyncOperation URL (optionally
//   Retry-After), and the operation becomes Succeeded after a latency the test chooses;
// - a PUT while another operation holds the NIC gets 429 RetryableErrorDueToAnotherOperation with
//   Retry-After (the bosh-azure-cpi #179 body);
// - at most 256 private addresses per NIC and per VM; a full subnet answers SubnetIsFull;
// - optionally If-Match against the NIC's etag (412 PreconditionFailed), which real NRP may not enforce;
// - a bearer token is required (401 otherwise), the one the IMDS double issues.
// HTTPS on 127.0.0.1 (or `host`:`port`) with a self-signed certificate made by openssl at start for
// 127.0.0.1 and `certAddresses` (the SDK refuses bearer tokens over plain HTTP); `caFile` is what
// NODE_EXTRA_CA_CERTS must name for a child process. Operation URLs are built from the request's Host,
// as a client reached the service.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { intToIp, ipToInt, parseCidr } from '../../../config/net.js';

export interface DoubleIpConfig {
  name: string;
  /** Dotted quad; for a prefix configuration the block's first address. */
  ip: string;
  prefixLength?: number;
  subnetId: string;
  primary: boolean;
  state: 'Updating' | 'Succeeded' | 'Failed';
}

export interface DoubleNic {
  name: string;
  resourceGroup: string;
  location: string;
  vmId: string;
  mac: string;
  etag: string;
  state: 'Updating' | 'Succeeded';
  busyUntilOp: string | null;
  ipConfigs: DoubleIpConfig[];
  tags: Record<string, string>;
}

export interface DoubleSubnet {
  id: string;
  cidr: string;
}

export interface DoubleVm {
  id: string;
  name: string;
  vmId: string;
  size: string;
  resourceGroup: string;
  location: string;
  zone: string;
  /** NIC names, primary first. */
  nics: string[];
}

export interface ArmDoubleOptions {
  subscriptionId?: string;
  /** Duration of a NIC PUT's operation, ms (may be drawn from a distribution). */
  latencyMs?: () => number;
  /** Retry-After (s) on the PUT's answer and on polls; 0 sends none (the SDK's own interval then). */
  asyncRetryAfterSec?: number;
  /** Retry-After (s) of a 429 busy answer. */
  busyRetryAfterSec?: number;
  /** Honour If-Match (412 on mismatch). */
  etagCheck?: boolean;
  /** The bearer token accepted. */
  token: string;
  /** Listen address (default 127.0.0.1) and port (default 0: any free port). */
  host?: string;
  port?: number;
  /** More IP addresses the certificate is valid for (the lab's subnet gateways). */
  certAddresses?: string[];
  /** Where the key and certificate go (default a fresh temporary directory, removed by stop()). */
  certDir?: string;
}

export interface PutRecord {
  nic: string;
  at: number;
  done?: number;
  status: number;
  code?: string;
  /** IP configurations the accepted PUT added and removed (what the write carried). */
  added?: number;
  removed?: number;
}

const API = '2026-01-01';
const WEIGHT = (c: DoubleIpConfig) =>
  c.prefixLength && c.prefixLength < 32 ? 2 ** (32 - c.prefixLength) : 1;

export class ArmDouble {
  readonly subscriptionId: string;
  readonly nics = new Map<string, DoubleNic>();
  readonly subnets = new Map<string, DoubleSubnet>();
  readonly vms = new Map<string, DoubleVm>();
  readonly puts: PutRecord[] = [];
  /** Most PUT operations ever running at once on one NIC (must stay 1). */
  maxConcurrentPerNic = 0;
  busyAnswers = 0;
  preconditionFailures = 0;
  readonly requests = new Map<string, number>();
  private readonly ops = new Map<string, { status: 'InProgress' | 'Succeeded' | 'Failed'; nic: string }>();
  private readonly running = new Map<string, number>();
  private forcedBusy = 0;
  /** Runs once, before the next PUT is looked at (another writer acting between our GET and PUT). */
  beforeNextPut: (() => void) | null = null;
  private server: Server | null = null;
  private readonly dir: string;
  readonly caFile: string;
  private readonly keyFile: string;
  url = '';
  private timers = new Set<NodeJS.Timeout>();

  constructor(readonly opts: ArmDoubleOptions) {
    this.subscriptionId = opts.subscriptionId ?? '11111111-2222-3333-4444-555555555555';
    this.dir = opts.certDir ?? mkdtempSync(join(tmpdir(), 'arm-double-'));
    this.caFile = join(this.dir, 'arm-ca.pem');
    this.keyFile = join(this.dir, 'arm-key.pem');
  }

  async start(): Promise<this> {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        this.keyFile,
        '-out',
        this.caFile,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        `subjectAltName=${['127.0.0.1', ...(this.opts.certAddresses ?? [])].map((a) => `IP:${a}`).join(',')}`,
      ],
      { stdio: 'ignore' },
    );
    this.server = createServer(
      { key: readFileSync(this.keyFile), cert: readFileSync(this.caFile) },
      (req, res) => void this.handle(req, res),
    );
    const host = this.opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port ?? 0, host, resolve);
    });
    this.url = `https://${host}:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    if (this.opts.certDir) for (const f of [this.caFile, this.keyFile]) rmSync(f, { force: true });
    else rmSync(this.dir, { recursive: true, force: true });
  }

  addSubnet(vnet: string, name: string, cidr: string, resourceGroup = 'rg-tidepool'): DoubleSubnet {
    const id =
      `/subscriptions/${this.subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Network/` +
      `virtualNetworks/${vnet}/subnets/${name}`;
    const s = { id, cidr };
    this.subnets.set(id, s);
    return s;
  }

  /** A VM with one NIC per subnet given, each with its primary address allocated. */
  addVm(name: string, size: string, subnets: DoubleSubnet[], resourceGroup = 'rg-tidepool'): DoubleVm {
    const vm: DoubleVm = {
      id: `/subscriptions/${this.subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachines/${name}`,
      name,
      vmId: randomUUID(),
      size,
      resourceGroup,
      location: 'westeurope',
      zone: '1',
      nics: [],
    };
    subnets.forEach((s, i) => {
      const nicName = `${name}-nic${i}`;
      const ip = this.freeAddress(s);
      if (!ip) throw new Error(`subnet ${s.cidr} is full`);
      this.nics.set(nicName, {
        name: nicName,
        resourceGroup,
        location: vm.location,
        vmId: vm.id,
        mac: randomBytes(6).toString('hex').replace(/^../, '00').toUpperCase(),
        etag: newEtag(),
        state: 'Succeeded',
        busyUntilOp: null,
        ipConfigs: [{ name: 'ipconfig1', ip, subnetId: s.id, primary: true, state: 'Succeeded' }],
        tags: {},
      });
      vm.nics.push(nicName);
    });
    this.vms.set(name, vm);
    return vm;
  }

  /** The next `n` PUTs are answered 429 RetryableErrorDueToAnotherOperation. */
  busyNext(n: number): void {
    this.forcedBusy += n;
  }

  /** Another writer's change, straight into the NIC (as a portal user or another controller would). */
  externalAdd(nicName: string, configName: string): string {
    const nic = this.nics.get(nicName)!;
    const subnet = this.subnets.get(nic.ipConfigs[0].subnetId)!;
    const ip = this.freeAddress(subnet)!;
    nic.ipConfigs.push({ name: configName, ip, subnetId: subnet.id, primary: false, state: 'Succeeded' });
    nic.etag = newEtag();
    return ip;
  }

  /** Secondary items of a NIC ("10.0.0.7" or "10.0.0.16/28") whose configuration is Succeeded. */
  secondaries(nicName: string): string[] {
    return this.nics
      .get(nicName)!
      .ipConfigs.filter((c) => !c.primary && c.state === 'Succeeded')
      .map(itemOf)
      .sort();
  }

  private count(what: string) {
    this.requests.set(what, (this.requests.get(what) ?? 0) + 1);
  }

  private usedIn(subnetId: string): Set<number> {
    const used = new Set<number>();
    for (const n of this.nics.values())
      for (const c of n.ipConfigs)
        if (c.subnetId === subnetId) for (let i = 0; i < WEIGHT(c); i++) used.add(ipToInt(c.ip) + i);
    return used;
  }

  /** Azure reserves the first four addresses and the last of every subnet. */
  private freeAddress(s: DoubleSubnet, used = this.usedIn(s.id)): string | null {
    const c = parseCidr(s.cidr);
    for (let n = c.base + 4; n < c.base + c.size - 1; n++) if (!used.has(n)) return intToIp(n);
    return null;
  }

  private freeBlock(s: DoubleSubnet, used = this.usedIn(s.id)): string | null {
    const c = parseCidr(s.cidr);
    for (let n = c.base + 16; n + 16 <= c.base + c.size - 16; n += 16) {
      let free = true;
      for (let i = 0; i < 16 && free; i++) if (used.has(n + i)) free = false;
      if (free) return intToIp(n);
    }
    return null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', this.url);
    const body = await readBody(req);
    if (req.headers.authorization !== `Bearer ${this.opts.token}`)
      return send(res, 401, {
        error: { code: 'AuthenticationFailed', message: 'missing or wrong bearer token' },
      });
    const op =
      /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.Network\/locations\/[^/]+\/operations\/([^/]+)$/i.exec(
        url.pathname,
      );
    if (op && req.method === 'GET') {
      this.count('GetOperation');
      const o = this.ops.get(op[2]);
      if (!o) return send(res, 404, { error: { code: 'NotFound', message: 'no such operation' } });
      return send(res, 200, { status: o.status }, this.retryAfter());
    }
    const m =
      /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Network\/networkInterfaces(?:\/([^/]+))?$/i.exec(
        url.pathname,
      );
    if (!m || m[1] !== this.subscriptionId)
      return send(res, 404, {
        error: { code: 'NotFound', message: `no route ${req.method} ${url.pathname}` },
      });
    if (!url.searchParams.get('api-version'))
      return send(res, 400, {
        error: { code: 'MissingApiVersionParameter', message: 'api-version is required' },
      });
    const [, , rg, name] = m;
    if (!name && req.method === 'GET') {
      this.count('ListNetworkInterfaces');
      const value = [...this.nics.values()].filter((n) => n.resourceGroup === rg).map((n) => this.view(n));
      return send(res, 200, { value });
    }
    const nic = name ? this.nics.get(name) : undefined;
    if (!nic || nic.resourceGroup !== rg)
      return send(res, 404, {
        error: {
          code: 'ResourceNotFound',
          message: `The Resource 'Microsoft.Network/networkInterfaces/${name}' under resource group '${rg}' was not found.`,
        },
      });
    if (req.method === 'GET') {
      this.count('GetNetworkInterface');
      return send(res, 200, this.view(nic));
    }
    if (req.method === 'PUT') return this.put(req, res, nic, body, `https://${req.headers.host ?? url.host}`);
    return send(res, 405, { error: { code: 'MethodNotAllowed', message: req.method } });
  }

  private retryAfter(): Record<string, string> {
    return this.opts.asyncRetryAfterSec ? { 'Retry-After': String(this.opts.asyncRetryAfterSec) } : {};
  }

  private put(req: IncomingMessage, res: ServerResponse, nic: DoubleNic, raw: string, base: string) {
    this.count('PutNetworkInterface');
    const hook = this.beforeNextPut;
    this.beforeNextPut = null;
    hook?.();
    const record: PutRecord = { nic: nic.name, at: Date.now(), status: 0 };
    this.puts.push(record);
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      record.code = (payload as { error?: { code?: string } }).error?.code;
      send(res, status, payload, headers);
    };
    if (nic.busyUntilOp || this.forcedBusy > 0) {
      if (!nic.busyUntilOp) this.forcedBusy--;
      this.busyAnswers++;
      const after = this.opts.busyRetryAfterSec ?? 1;
      return answer(
        429,
        {
          error: {
            code: 'RetryableError',
            message: 'A retryable error occurred.',
            details: [
              {
                code: 'RetryableErrorDueToAnotherOperation',
                message: `Operation PutNetworkInterfaceOperation is updating resource ${nic.name}. The call can be retried in ${after} seconds.`,
              },
            ],
          },
        },
        { 'Retry-After': String(after) },
      );
    }
    const ifMatch = req.headers['if-match'];
    if (this.opts.etagCheck && ifMatch && ifMatch !== nic.etag && ifMatch !== '*') {
      this.preconditionFailures++;
      return answer(412, {
        error: { code: 'PreconditionFailed', message: `etag ${ifMatch} does not match ${nic.etag}` },
      });
    }
    let doc: { properties?: { ipConfigurations?: unknown[] } };
    try {
      doc = JSON.parse(raw);
    } catch {
      return answer(400, { error: { code: 'InvalidRequestContent', message: 'the body is not JSON' } });
    }
    const list = doc.properties?.ipConfigurations;
    if (!Array.isArray(list) || list.length === 0)
      return answer(400, {
        error: { code: 'InvalidRequestFormat', message: 'properties.ipConfigurations is required' },
      });
    const primary = nic.ipConfigs.find((c) => c.primary)!;
    const wanted = list.map((x) => x as { name?: string; properties?: Record<string, unknown> });
    if (!wanted.some((w) => w.name === primary.name && w.properties?.primary !== false))
      return answer(400, {
        error: {
          code: 'IpConfigDeleteNotSupported',
          message: 'Deletion and renaming of primary IP Configuration is not supported',
        },
      });
    const next: DoubleIpConfig[] = [];
    const subnetId = primary.subnetId;
    const subnet = this.subnets.get(subnetId)!;
    // Addresses of this NIC's configurations that the PUT drops are free for its new ones.
    const keptNames = new Set(wanted.map((w) => w.name));
    const used = this.usedIn(subnetId);
    for (const c of nic.ipConfigs)
      if (!keptNames.has(c.name)) for (let i = 0; i < WEIGHT(c); i++) used.delete(ipToInt(c.ip) + i);
    for (const w of wanted) {
      if (!w.name)
        return answer(400, {
          error: { code: 'InvalidRequestFormat', message: 'an IP configuration has no name' },
        });
      const had = nic.ipConfigs.find((c) => c.name === w.name);
      if (had) {
        next.push({ ...had });
        continue;
      }
      const p = w.properties ?? {};
      const sid = (p.subnet as { id?: string } | undefined)?.id;
      if (sid && sid.toLowerCase() !== subnetId.toLowerCase())
        return answer(400, {
          error: { code: 'IpConfigurationsOnNicMustBeInSameSubnet', message: `${w.name}: subnet ${sid}` },
        });
      const len = p.privateIPAddressPrefixLength as number | undefined;
      let ip: string | null;
      if (len === 28) {
        ip = this.freeBlock(subnet, used);
        if (!ip)
          return answer(400, {
            error: {
              code: 'PrivateIPAddressPrefixNotAvailable',
              message: `subnet ${subnet.cidr} has no free /28 block`,
            },
          });
      } else if (len !== undefined && len !== 32) {
        return answer(400, {
          error: { code: 'InvalidPrivateIPAddressPrefixLength', message: `prefix length ${len}` },
        });
      } else {
        ip = this.freeAddress(subnet, used);
        if (!ip)
          return answer(400, {
            error: {
              code: 'SubnetIsFull',
              message: `Subnet ${subnet.id} with address prefix ${subnet.cidr} does not have enough capacity`,
            },
          });
      }
      const c: DoubleIpConfig = {
        name: w.name,
        ip,
        prefixLength: len === 28 ? 28 : undefined,
        subnetId,
        primary: false,
        state: 'Updating',
      };
      for (let i = 0; i < WEIGHT(c); i++) used.add(ipToInt(ip) + i);
      next.push(c);
    }
    const onNic = next.reduce((n, c) => n + WEIGHT(c), 0);
    if (onNic > 256)
      return answer(400, {
        error: {
          code: 'PrivateIPAddressesPerNicLimitExceeded',
          message: `${onNic} private addresses on ${nic.name}; at most 256`,
        },
      });
    const onVm =
      onNic +
      [...this.nics.values()]
        .filter((n) => n.vmId === nic.vmId && n !== nic)
        .reduce((k, n) => k + n.ipConfigs.reduce((j, c) => j + WEIGHT(c), 0), 0);
    if (onVm > 256)
      return answer(400, {
        error: {
          code: 'PrivateIPAddressesPerVmLimitExceeded',
          message: `${onVm} private addresses on the VM; at most 256`,
        },
      });
    record.added = next.filter((c) => !nic.ipConfigs.some((o) => o.name === c.name)).length;
    record.removed = nic.ipConfigs.filter((c) => !keptNames.has(c.name)).length;
    nic.ipConfigs = next;
    nic.state = 'Updating';
    nic.etag = newEtag();
    const opId = randomUUID();
    this.ops.set(opId, { status: 'InProgress', nic: nic.name });
    nic.busyUntilOp = opId;
    const now = (this.running.get(nic.name) ?? 0) + 1;
    this.running.set(nic.name, now);
    this.maxConcurrentPerNic = Math.max(this.maxConcurrentPerNic, now);
    const t = setTimeout(
      () => {
        this.timers.delete(t);
        for (const c of nic.ipConfigs) if (c.state === 'Updating') c.state = 'Succeeded';
        nic.state = 'Succeeded';
        nic.etag = newEtag();
        nic.busyUntilOp = null;
        this.running.set(nic.name, (this.running.get(nic.name) ?? 1) - 1);
        this.ops.get(opId)!.status = 'Succeeded';
        record.done = Date.now();
      },
      Math.max(0, this.opts.latencyMs?.() ?? 50),
    );
    this.timers.add(t);
    const asyncUrl = `${base}/subscriptions/${this.subscriptionId}/providers/Microsoft.Network/locations/${nic.location}/operations/${opId}?api-version=${API}`;
    answer(200, this.view(nic), { 'Azure-AsyncOperation': asyncUrl, ...this.retryAfter() });
  }

  /** The NIC on the wire, shaped as the NetworkInterfaceGet example. */
  view(nic: DoubleNic): object {
    const base = `/subscriptions/${this.subscriptionId}/resourceGroups/${nic.resourceGroup}/providers/Microsoft.Network/networkInterfaces/${nic.name}`;
    return {
      name: nic.name,
      id: base,
      etag: nic.etag,
      location: nic.location,
      type: 'Microsoft.Network/networkInterfaces',
      tags: nic.tags,
      properties: {
        provisioningState: nic.state,
        resourceGuid: '00000000-0000-0000-0000-000000000000',
        ipConfigurations: nic.ipConfigs.map((c) => ({
          name: c.name,
          id: `${base}/ipConfigurations/${c.name}`,
          etag: nic.etag,
          type: 'Microsoft.Network/networkInterfaces/ipConfigurations',
          properties: {
            provisioningState: c.state,
            privateIPAddress: c.prefixLength ? `${c.ip}/${c.prefixLength}` : c.ip,
            ...(c.prefixLength ? { privateIPAddressPrefixLength: c.prefixLength } : {}),
            privateIPAllocationMethod: 'Dynamic',
            privateIPAddressVersion: 'IPv4',
            subnet: { id: c.subnetId },
            primary: c.primary,
          },
        })),
        dnsSettings: { dnsServers: [], appliedDnsServers: [] },
        macAddress: nic.mac.match(/../g)!.join('-'),
        enableAcceleratedNetworking: false,
        enableIPForwarding: false,
        primary: this.vms.get(nic.vmId.split('/').pop()!)?.nics[0] === nic.name,
        virtualMachine: { id: nic.vmId },
        nicType: 'Standard',
      },
    };
  }
}

export function itemOf(c: DoubleIpConfig): string {
  return c.prefixLength ? `${c.ip}/${c.prefixLength}` : c.ip;
}

function newEtag(): string {
  return `W/"${randomUUID()}"`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'x-ms-request-id': randomUUID(),
    ...headers,
  });
  res.end(text);
}
