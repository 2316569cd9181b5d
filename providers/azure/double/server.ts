// The Azure doubles as a server for a process (main.ts, bundled as dist/bin/tidepool-azure-double), for the lab's Azure mode
// (lab/azure-cloud.ts, `tidepoolctl lab up --provider azure`), which runs it in the lab's vpc namespace:
//   --arm HOST:PORT         the ARM double (HTTPS, certificate for 127.0.0.1 and every --cert-address)
//   --imds HOST:PORT        one IMDS double for every VM: each request is answered for the VM whose
//                           primary address sent it (and its managed identity token)
//   --control SOCKET        the lab's own API, plain HTTP on a Unix socket (reachable from any namespace):
//                             POST /vms {name, size}  a VM with one NIC in the subnet (primary address
//                                                     allocated) → {name, vmId, nic, mac, primaryAddress,
//                                                     subnetCidr}
//                             GET /nics               every NIC: {vm, nic, mac, primaryAddress, subnetCidr,
//                                                     addresses, prefixes}, secondary configurations whose
//                                                     provisioning Succeeded
//                             GET /counts             ARM requests by operation, NIC PUTs
//   --cert-dir DIR          where arm-ca.pem (what NODE_EXTRA_CA_CERTS names) and the key go
//   --cert-address IP       (repeatable) an address the ARM certificate is valid for
//   --subnet CIDR           the VNet subnet the VMs' NICs are in
//   --put-latency-ms N      how long a NIC PUT's operation runs (default 1500)
//   --retry-after-sec N     Retry-After on the PUT's answer and its polls (default 1)
// main.ts runs it until SIGTERM or SIGINT.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ArmDouble, itemOf } from './arm-double.js';
import { ImdsDouble } from './imds-double.js';
import { normaliseMac } from '../imds.js';

export const LAB_ARM_TOKEN = 'tidepool-lab-token';

interface Args {
  arm: { host: string; port: number };
  imds: { host: string; port: number };
  control: string;
  certDir: string;
  certAddresses: string[];
  subnet: string;
  putLatencyMs: number;
  retryAfterSec: number;
}

const USAGE =
  'usage: tidepool-azure-double --arm HOST:PORT --imds HOST:PORT --control SOCKET --cert-dir DIR ' +
  '--subnet CIDR [--cert-address IP]... [--put-latency-ms N] [--retry-after-sec N]';

function hostPort(flag: string, v: string | undefined): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(v ?? '');
  if (!m || Number(m[2]) > 65535) throw new Error(`${flag} must be HOST:PORT (got ${JSON.stringify(v)})`);
  return { host: m[1], port: Number(m[2]) };
}

function count(flag: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v)) throw new Error(`${flag} must be a whole number (got ${JSON.stringify(v)})`);
  return Number(v);
}

export function parseArgs(argv: string[]): Args {
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a];
    const v = inline ?? argv[++i];
    if (v === undefined) throw new Error(`${k} needs a value`);
    flags.set(k, [...(flags.get(k) ?? []), v]);
  }
  const known = [
    '--arm',
    '--imds',
    '--control',
    '--cert-dir',
    '--cert-address',
    '--subnet',
    '--put-latency-ms',
    '--retry-after-sec',
  ];
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown option ${k}`);
  const one = (k: string) => flags.get(k)?.at(-1);
  for (const k of ['--control', '--cert-dir', '--subnet']) if (!one(k)) throw new Error(`${k} is required`);
  if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(one('--subnet')!))
    throw new Error(`--subnet must be a CIDR (got ${one('--subnet')})`);
  return {
    arm: hostPort('--arm', one('--arm')),
    imds: hostPort('--imds', one('--imds')),
    control: one('--control')!,
    certDir: one('--cert-dir')!,
    certAddresses: flags.get('--cert-address') ?? [],
    subnet: one('--subnet')!,
    putLatencyMs: count('--put-latency-ms', one('--put-latency-ms'), 1500),
    retryAfterSec: count('--retry-after-sec', one('--retry-after-sec'), 1),
  };
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(text ? JSON.parse(text) : {});
      } catch {
        reject(new Error('the body is not JSON'));
      }
    });
  });
}

function reply(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function serve(a: Args): Promise<() => Promise<void>> {
  mkdirSync(a.certDir, { recursive: true });
  const arm = await new ArmDouble({
    token: LAB_ARM_TOKEN,
    host: a.arm.host,
    port: a.arm.port,
    certAddresses: a.certAddresses,
    certDir: a.certDir,
    latencyMs: () => a.putLatencyMs,
    asyncRetryAfterSec: a.retryAfterSec,
  }).start();
  const subnet = arm.addSubnet('vnet-lab', 'nodes', a.subnet);
  const imds = await new ImdsDouble(arm, (addr) => ImdsDouble.vmByPrimaryAddress(arm, addr), a.imds).start();
  const nicOf = (vmName: string) => arm.nics.get(arm.vms.get(vmName)!.nics[0])!;
  const control = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://control').pathname;
      if (req.method === 'GET' && path === '/health')
        return reply(res, 200, { arm: arm.url, imds: imds.url });
      if (req.method === 'GET' && path === '/counts')
        return reply(res, 200, { requests: Object.fromEntries(arm.requests), puts: arm.puts.length });
      if (req.method === 'GET' && path === '/nics')
        return reply(
          res,
          200,
          [...arm.vms.values()].flatMap((vm) =>
            vm.nics.map((name) => {
              const nic = arm.nics.get(name)!;
              const done = nic.ipConfigs.filter((c) => !c.primary && c.state === 'Succeeded');
              return {
                vm: vm.name,
                nic: name,
                mac: normaliseMac(nic.mac),
                primaryAddress: nic.ipConfigs.find((c) => c.primary)!.ip,
                subnetCidr: arm.subnets.get(nic.ipConfigs[0].subnetId)?.cidr ?? '',
                addresses: done.filter((c) => !c.prefixLength).map((c) => c.ip),
                prefixes: done.filter((c) => c.prefixLength).map(itemOf),
              };
            }),
          ),
        );
      if (req.method === 'POST' && path === '/vms') {
        const body = (await readJson(req)) as { name?: unknown; size?: unknown };
        if (typeof body.name !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(body.name))
          return reply(res, 400, { error: `name must be 1-64 letters, digits or dashes` });
        if (typeof body.size !== 'string' || !body.size)
          return reply(res, 400, { error: 'size is required (a VM size, e.g. Standard_D4s_v5)' });
        if (arm.vms.has(body.name)) return reply(res, 409, { error: `VM ${body.name} exists` });
        const vm = arm.addVm(body.name, body.size, [subnet]);
        const nic = nicOf(vm.name);
        return reply(res, 201, {
          name: vm.name,
          vmId: vm.vmId,
          nic: nic.name,
          mac: normaliseMac(nic.mac),
          primaryAddress: nic.ipConfigs[0].ip,
          subnetCidr: subnet.cidr,
        });
      }
      reply(res, 404, { error: `no route ${req.method} ${path}` });
    })().catch((e: Error) => reply(res, 400, { error: e.message }));
  });
  if (existsSync(a.control)) rmSync(a.control);
  await new Promise<void>((resolve, reject) => {
    control.once('error', reject);
    control.listen(a.control, resolve);
  });
  process.stdout.write(
    `azure-double: ARM ${arm.url} (CA ${arm.caFile}), IMDS ${imds.url}, control ${a.control}, subnet ${a.subnet}\n`,
  );
  return async () => {
    await new Promise<void>((r) => control.close(() => r()));
    rmSync(a.control, { force: true });
    await imds.stop();
    await arm.stop();
  };
}

export { USAGE };
