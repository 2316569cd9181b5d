// A small CRI client (runtime.v1 RuntimeService) for the containerd e2e test: @grpc/grpc-js with
// @grpc/proto-loader reading the hand-written subset in cri-runtime.proto. crictl is not packaged for
// Debian bookworm; this plays kubelet's part for the sandbox calls the network plugin sees.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

const PROTO = fileURLToPath(new URL('./cri-runtime.proto', import.meta.url));

export interface SandboxConfig {
  name: string;
  namespace: string;
  uid: string;
  attempt?: number;
  portMappings?: { protocol: 'TCP' | 'UDP'; container_port: number; host_port: number }[];
  annotations?: Record<string, string>;
}

export class CriClient {
  private readonly client: grpc.Client & Record<string, any>;

  constructor(socket: string) {
    const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as any;
    this.client = new pkg.runtime.v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  private call<T>(method: string, req: object, timeoutMs = 60_000): Promise<T> {
    return new Promise((resolve, reject) =>
      this.client[method](req, { deadline: Date.now() + timeoutMs }, (err: Error | null, res: T) =>
        err ? reject(err) : resolve(res),
      ),
    );
  }

  version(): Promise<{ runtime_name: string; runtime_version: string; runtime_api_version: string }> {
    return this.call('Version', { version: 'v1' }, 5000);
  }
  /** The runtime's conditions, e.g. { RuntimeReady: true, NetworkReady: false }. */
  async conditions(): Promise<Record<string, boolean>> {
    const res = await this.call<{ status: { conditions: { type: string; status: boolean }[] } }>(
      'Status',
      {},
      5000,
    );
    return Object.fromEntries(res.status.conditions.map((c) => [c.type, c.status]));
  }
  /** The runtime's conditions with their reasons and messages, by type. */
  async conditionDetails(): Promise<Record<string, { status: boolean; reason: string; message: string }>> {
    const res = await this.call<{
      status: { conditions: { type: string; status: boolean; reason: string; message: string }[] };
    }>('Status', {}, 5000);
    return Object.fromEntries(res.status.conditions.map((c) => [c.type, c]));
  }
  async runPodSandbox(c: SandboxConfig): Promise<string> {
    const res = await this.call<{ pod_sandbox_id: string }>('RunPodSandbox', {
      config: {
        metadata: { name: c.name, namespace: c.namespace, uid: c.uid, attempt: c.attempt ?? 0 },
        hostname: c.name,
        port_mappings: c.portMappings ?? [],
        annotations: c.annotations ?? {},
        linux: {},
      },
    });
    return res.pod_sandbox_id;
  }
  async podSandboxStatus(id: string): Promise<{ state: string; network: { ip: string } | null }> {
    const res = await this.call<{ status: { state: string; network: { ip: string } | null } }>(
      'PodSandboxStatus',
      {
        pod_sandbox_id: id,
      },
    );
    return res.status;
  }
  async listPodSandbox(): Promise<{ id: string; metadata: { name: string } }[]> {
    return (await this.call<{ items: { id: string; metadata: { name: string } }[] }>('ListPodSandbox', {}))
      .items;
  }
  stopPodSandbox(id: string): Promise<unknown> {
    return this.call('StopPodSandbox', { pod_sandbox_id: id });
  }
  removePodSandbox(id: string): Promise<unknown> {
    return this.call('RemovePodSandbox', { pod_sandbox_id: id });
  }
  close(): void {
    this.client.close();
  }
}
