// A local double of the Azure Instance Metadata Service for one VM of the ARM double (reference
// azure-cni-and-cilium-ipam.md A4): GET /metadata/instance (compute and network, every primitive a
// string, MACs without separators) and the managed identity token endpoint
// /metadata/identity/oauth2/token. Both require `Metadata: true` (400 otherwise), as IMDS does. The
// network section follows the ARM double's NICs as they are now. Plain HTTP on 127.0.0.1 (or `host`:`port`),
// as IMDS is. One double may serve several VMs (the lab): `vm` is then a function of the address that
// asks (a VM reaches IMDS from its primary address), and an address no VM holds gets 404.
// Faults: `instanceAnswer` replaces the instance document (status and body); `tokenFailure` makes the
// token endpoint answer an error.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { parseCidr, intToIp } from '../../../config/net.js';
import type { ArmDouble } from './arm-double.js';

export class ImdsDouble {
  private server: Server | null = null;
  url = '';
  tokenRequests = 0;
  instanceRequests = 0;
  /** Replaces the /metadata/instance answer when set. */
  instanceAnswer: { status: number; body: string } | null = null;
  /** The token endpoint's failure, when set. */
  tokenFailure: { status: number; body: object } | null = null;

  constructor(
    private readonly arm: ArmDouble,
    /** The VM answered for, or which VM an asking address belongs to (undefined: none). */
    private readonly vm: string | ((remoteAddress: string) => string | undefined),
    private readonly listen: { host?: string; port?: number } = {},
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    const host = this.listen.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.listen.port ?? 0, host, resolve);
    });
    this.url = `http://${host}:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** The VM whose primary NIC's primary address is `address` (a VM asks IMDS from that address). */
  static vmByPrimaryAddress(arm: ArmDouble, address: string): string | undefined {
    const ip = address.replace(/^::ffff:/, '');
    for (const vm of arm.vms.values()) {
      const nic = arm.nics.get(vm.nics[0]);
      if (nic?.ipConfigs.find((c) => c.primary)?.ip === ip) return vm.name;
    }
    return undefined;
  }

  /** The instance document IMDS would give for the VM now (the single VM's when none is named). */
  instanceDocument(vmName = typeof this.vm === 'string' ? this.vm : ''): object {
    const vm = this.arm.vms.get(vmName)!;
    return {
      compute: {
        azEnvironment: 'AzurePublicCloud',
        location: vm.location,
        name: vm.name,
        resourceGroupName: vm.resourceGroup,
        resourceId: vm.id,
        subscriptionId: this.arm.subscriptionId,
        vmId: vm.vmId,
        vmScaleSetName: '',
        vmSize: vm.size,
        zone: vm.zone,
      },
      network: {
        interface: vm.nics.map((n) => {
          const nic = this.arm.nics.get(n)!;
          const subnet = this.arm.subnets.get(nic.ipConfigs[0].subnetId)!;
          const c = parseCidr(subnet.cidr);
          return {
            ipv4: {
              ipAddress: nic.ipConfigs
                .filter((x) => x.state === 'Succeeded')
                .map((x) => ({ privateIpAddress: x.ip, publicIpAddress: '' })),
              subnet: [{ address: intToIp(c.base), prefix: String(c.bits) }],
            },
            ipv6: { ipAddress: [] },
            macAddress: nic.mac,
          };
        }),
      },
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', this.url);
    // msal-node asks for /metadata/identity/oauth2/token/ (trailing slash); IMDS takes both.
    const path = url.pathname.replace(/\/+$/, '');
    const reply = (status: number, body: string, type = 'application/json; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.headers.metadata !== 'true')
      return reply(400, JSON.stringify({ error: 'Bad request. Required metadata header not specified' }));
    const vmName = typeof this.vm === 'string' ? this.vm : this.vm(req.socket.remoteAddress ?? '');
    if (!vmName || !this.arm.vms.has(vmName))
      return reply(
        404,
        JSON.stringify({ error: `no VM has the address ${req.socket.remoteAddress ?? '?'}` }),
      );
    if (path === '/metadata/instance') {
      this.instanceRequests++;
      if (this.instanceAnswer) return reply(this.instanceAnswer.status, this.instanceAnswer.body);
      return reply(200, JSON.stringify(this.instanceDocument(vmName)));
    }
    if (path === '/metadata/identity/oauth2/token') {
      this.tokenRequests++;
      if (this.tokenFailure) return reply(this.tokenFailure.status, JSON.stringify(this.tokenFailure.body));
      const resource = url.searchParams.get('resource');
      if (!resource)
        return reply(
          400,
          JSON.stringify({ error: 'invalid_request', error_description: 'resource is required' }),
        );
      const now = Math.floor(Date.now() / 1000);
      return reply(
        200,
        JSON.stringify({
          access_token: this.arm.opts.token,
          client_id: url.searchParams.get('client_id') ?? '00000000-0000-0000-0000-00000000c11d',
          expires_in: '86399',
          expires_on: String(now + 86399),
          ext_expires_in: '86399',
          not_before: String(now),
          resource,
          token_type: 'Bearer',
        }),
      );
    }
    reply(404, JSON.stringify({ error: 'Not found' }));
  }
}
