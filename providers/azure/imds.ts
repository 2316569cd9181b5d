// Azure Instance Metadata Service (reference azure-cni-and-cilium-ipam.md A4): GET /metadata/instance with
// `Metadata: true` and no proxy, compute and network sections in one answer. Every primitive is a string;
// a missing value is "". IMDS allows 5 requests/s per VM, so the answer is read once and kept.
// MACs: IMDS writes 000D3A328570 (no separators, upper case), ARM writes 00-0D-3A-32-85-70; both are
// normalised to 00:0d:3a:32:85:70 (normaliseMac).

export const IMDS_API_VERSION = '2021-02-01';

export class AzureImdsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AzureImdsError';
  }
}

export interface ImdsNic {
  mac: string;
  /** Private addresses of the NIC's IP configurations, primary first. */
  addresses: string[];
  /** The NIC's subnet as a CIDR ("10.1.0.0/24"), from the first subnet entry. */
  subnetCidr: string;
}

export interface InstanceMetadata {
  vmId: string;
  name: string;
  vmSize: string;
  subscriptionId: string;
  resourceGroupName: string;
  location: string;
  zone: string;
  /** /subscriptions/.../virtualMachines/<name> */
  resourceId: string;
  nics: ImdsNic[];
}

/** 000D3A328570, 00-0D-3A-32-85-70 or 00:0d:3a:32:85:70 → 00:0d:3a:32:85:70; '' when not a MAC. */
export function normaliseMac(mac: string): string {
  const hex = mac.replace(/[-:]/g, '').toLowerCase();
  if (!/^[0-9a-f]{12}$/.test(hex)) return '';
  return hex.match(/../g)!.join(':');
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function field(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

function requireString(doc: unknown, path: string): string {
  const v = field(doc, path);
  if (typeof v !== 'string' || v === '')
    throw new AzureImdsError(
      `Azure IMDS answer has no ${path} (got ${JSON.stringify(v)}): is this an Azure VM, and is ` +
        `TIDEPOOL_IMDS_ENDPOINT the instance metadata service?`,
    );
  return v;
}

/** Validates an IMDS /metadata/instance document; throws AzureImdsError naming the first bad field. */
export function parseInstanceMetadata(doc: unknown): InstanceMetadata {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new AzureImdsError('Azure IMDS answer is not a JSON object with compute and network sections');
  const md: InstanceMetadata = {
    vmId: requireString(doc, 'compute.vmId'),
    name: requireString(doc, 'compute.name'),
    vmSize: requireString(doc, 'compute.vmSize'),
    subscriptionId: requireString(doc, 'compute.subscriptionId'),
    resourceGroupName: requireString(doc, 'compute.resourceGroupName'),
    location: requireString(doc, 'compute.location'),
    zone: String(field(doc, 'compute.zone') ?? ''),
    resourceId: requireString(doc, 'compute.resourceId'),
    nics: [],
  };
  const list = field(doc, 'network.interface');
  if (!Array.isArray(list) || list.length === 0)
    throw new AzureImdsError('Azure IMDS answer has no network.interface list: the VM reports no NIC');
  list.forEach((nic, i) => {
    const rawMac = field(nic, 'macAddress');
    const mac = typeof rawMac === 'string' ? normaliseMac(rawMac) : '';
    if (!mac)
      throw new AzureImdsError(
        `Azure IMDS network.interface[${i}].macAddress is ${JSON.stringify(rawMac)}, not a MAC address`,
      );
    const ips = field(nic, 'ipv4.ipAddress');
    const addresses = (Array.isArray(ips) ? ips : [])
      .map((a) => field(a, 'privateIpAddress'))
      .filter((a): a is string => typeof a === 'string' && IPV4.test(a));
    const sub = field(nic, 'ipv4.subnet');
    const first = Array.isArray(sub) ? sub[0] : undefined;
    const address = field(first, 'address');
    const prefix = field(first, 'prefix');
    if (typeof address !== 'string' || !IPV4.test(address) || !/^\d{1,2}$/.test(String(prefix)))
      throw new AzureImdsError(
        `Azure IMDS network.interface[${i}] (${mac}) has no ipv4.subnet address/prefix ` +
          `(got ${JSON.stringify(first ?? null)})`,
      );
    md.nics.push({ mac, addresses, subnetCidr: `${address}/${prefix}` });
  });
  return md;
}

export interface AzureImdsOptions {
  /** Base URL (TIDEPOOL_IMDS_ENDPOINT), http://169.254.169.254 on a VM. */
  endpoint: string;
  timeoutMs?: number;
  attempts?: number;
  fetch?: typeof fetch;
}

/** Reads /metadata/instance; retries 429/5xx and connection errors a few times (the 5 rps limit). */
export async function readInstanceMetadata(opts: AzureImdsOptions): Promise<InstanceMetadata> {
  const url = `${opts.endpoint.replace(/\/+$/, '')}/metadata/instance?api-version=${IMDS_API_VERSION}`;
  const attempts = Math.max(1, opts.attempts ?? 3);
  const fetchFn = opts.fetch ?? fetch;
  let last = '';
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 200 * 2 ** (i - 1)));
    let res: Response;
    try {
      res = await fetchFn(url, {
        headers: { Metadata: 'true' },
        signal: AbortSignal.timeout(opts.timeoutMs ?? 2000),
      });
    } catch (err) {
      last = `${url}: ${(err as Error).message}`;
      continue;
    }
    const text = await res.text();
    if (res.status === 429 || res.status >= 500) {
      last = `${url}: HTTP ${res.status}`;
      continue;
    }
    if (res.status !== 200)
      throw new AzureImdsError(`Azure IMDS ${url} answered HTTP ${res.status}: ${text.slice(0, 200)}`);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new AzureImdsError(
        `Azure IMDS ${url} answered with something that is not JSON: ${text.slice(0, 80)}`,
      );
    }
    return parseInstanceMetadata(doc);
  }
  throw new AzureImdsError(`Azure IMDS is unreachable after ${attempts} attempts (${last})`);
}
