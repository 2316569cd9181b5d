// The ARM calls Tidepool makes, on the official SDK (@azure/arm-network, api-version 2026-01-01):
// GET a NIC, list the NICs of a resource group, and PUT a whole NIC as a long-running operation polled
// through Azure-AsyncOperation by the SDK's poller. Two clients share one credential:
// - reads keep the SDK's retry policy, which waits the Retry-After of a 429 before trying again;
// - the NIC PUT has no SDK retry: a blind retry would resend a body read before the operation that held
//   the NIC, and undo that operation's change where If-Match is not enforced (the NIC PUT's spec declares
//   none). The NIC writer (nic-writer.ts) waits the advertised delay itself, re-reads and re-merges.
import { NetworkManagementClient, type NetworkInterface } from '@azure/arm-network';
import type { TokenCredential } from '@azure/identity';
import { toCloudError } from './errors.js';

export interface ArmOptions {
  credential: TokenCredential;
  /** ARM endpoint (AZURE_ARM_ENDPOINT); https://management.azure.com by default. */
  endpoint: string;
  /** Poll interval when the service sends no Retry-After. */
  pollIntervalMs: number;
}

export class Arm {
  private clients: { reader: NetworkManagementClient; writer: NetworkManagementClient } | null = null;
  /** Requests by operation (tests and benchmarks): GetNetworkInterface, PutNetworkInterface, ... */
  readonly calls = new Map<string, number>();
  /** PUTs in flight right now. */
  putsInFlight = 0;

  constructor(private readonly opts: ArmOptions) {}

  /** The subscription is known once IMDS has answered (or AZURE_SUBSCRIPTION_ID). */
  useSubscription(subscriptionId: string): void {
    const { credential, endpoint } = this.opts;
    const common = { endpoint, userAgentOptions: { userAgentPrefix: 'tidepool' } };
    this.clients = {
      reader: new NetworkManagementClient(credential, subscriptionId, common),
      writer: new NetworkManagementClient(credential, subscriptionId, {
        ...common,
        retryOptions: { maxRetries: 0 },
      }),
    };
  }

  private get reader(): NetworkManagementClient {
    if (!this.clients) throw new Error('Arm: useSubscription() first');
    return this.clients.reader;
  }

  private get writer(): NetworkManagementClient {
    if (!this.clients) throw new Error('Arm: useSubscription() first');
    return this.clients.writer;
  }

  private count(op: string) {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
  }

  async getNic(resourceGroup: string, name: string): Promise<NetworkInterface> {
    this.count('GetNetworkInterface');
    try {
      return await this.reader.networkInterfaces.get(resourceGroup, name);
    } catch (err) {
      throw toCloudError(err, 'GetNetworkInterface');
    }
  }

  async listNics(resourceGroup: string): Promise<NetworkInterface[]> {
    this.count('ListNetworkInterfaces');
    const out: NetworkInterface[] = [];
    try {
      for await (const nic of this.reader.networkInterfaces.list(resourceGroup)) out.push(nic);
    } catch (err) {
      throw toCloudError(err, 'ListNetworkInterfaces');
    }
    return out;
  }

  /** PUT the whole NIC and wait for the long-running operation; If-Match when `etag` is given. */
  async putNic(resourceGroup: string, nic: NetworkInterface, etag?: string): Promise<NetworkInterface> {
    this.count('PutNetworkInterface');
    this.putsInFlight++;
    try {
      const poller = this.writer.networkInterfaces.createOrUpdate(resourceGroup, nic.name!, nic, {
        updateIntervalInMs: this.opts.pollIntervalMs,
        requestOptions: etag ? { headers: { 'If-Match': etag } } : undefined,
      });
      return await poller.pollUntilDone();
    } catch (err) {
      throw toCloudError(err, 'PutNetworkInterface');
    } finally {
      this.putsInFlight--;
    }
  }
}
