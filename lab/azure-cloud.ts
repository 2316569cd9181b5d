// The lab on Azure (`tidepoolctl lab up --provider azure`): the LabCloud seam (lab/cloud.ts) on the ARM
// and IMDS doubles (providers/azure/double, run as dist/bin/tidepool-azure-double), since nothing real of
// Azure's can run on one machine. Everything runs in the lab's vpc namespace:
//   - the ARM double on 0.0.0.0:443 there, HTTPS with a certificate made at start for the nodes' subnet
//     gateway (the lab's CA, <state>/azure/arm-ca.pem, which every daemon trusts through
//     NODE_EXTRA_CA_CERTS); the nodes reach it at https://<gateway> as a VM reaches management.azure.com;
//   - one IMDS on port 8169 answering each node for its own VM (by the address that asks), with the
//     managed identity token the ARM double accepts;
//   - the lab's control API on <state>/azure.sock (VMs created, NICs listed), reachable from any namespace.
// Each node is a VM with one NIC (NICs cannot be attached to a running VM, so the NIC it starts with
// holds all its pod addresses); the fabric follows the NICs' Succeeded IP configurations, polled every
// 500 ms (PollingEventSource).
import { join } from 'node:path';
import { subnetGateway } from '../config/net.js';
import type { CloudFactory, CloudProcess, LabCloud, LaunchedInstance } from './cloud.js';
import { PollingEventSource, type InterfaceSnapshot } from './events.js';
import type { Manifest } from './manifest.js';
import { binary } from './paths.js';
import { unixJson, untilAnswers } from './unix-json.js';

export const LAB_AZURE_VNET = '10.44.0.0/16';
export const LAB_AZURE_SUBNET = '10.44.0.0/20';
export const LAB_ARM_PORT = 443;
export const LAB_AZURE_IMDS_PORT = 8169;
export const DEFAULT_AZURE_VM_SIZE = 'Standard_D4s_v5';

export interface AzureNicView {
  vm: string;
  nic: string;
  mac: string;
  primaryAddress: string;
  subnetCidr: string;
  addresses: string[];
  prefixes: string[];
}

/** One JSON request to the doubles' control API over its Unix socket. */
export function azureControl<T = unknown>(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  return unixJson<T>(socketPath, method, path, body, {
    server: 'Azure doubles',
    errorMessage: (json) => json?.error,
    timeoutMs: 10_000,
  });
}

export function azureSocket(m: Manifest): string {
  return join(m.stateDir, 'azure.sock');
}

export const azureLabCloud: CloudFactory = (m: Manifest): LabCloud => {
  const socket = azureSocket(m);
  const gw = subnetGateway(LAB_AZURE_SUBNET);
  const certDir = join(m.stateDir, 'azure');
  return {
    provider: 'azure',
    processes: (): CloudProcess[] => [
      {
        name: 'azure-double',
        argv: [
          binary('azureDouble'),
          '--arm',
          `0.0.0.0:${LAB_ARM_PORT}`,
          '--imds',
          `0.0.0.0:${LAB_AZURE_IMDS_PORT}`,
          '--control',
          socket,
          '--cert-dir',
          certDir,
          '--cert-address',
          gw,
          '--subnet',
          LAB_AZURE_SUBNET,
          ...(m.options.cloudArgs ?? []),
        ],
        env: {},
        ready: () =>
          untilAnswers(
            () => azureControl(socket, 'GET', '/health'),
            30_000,
            200,
            (e) =>
              new Error(
                `the Azure doubles do not answer on ${socket} after 30 s (${e.message}; ` +
                  `see ${join(m.stateDir, 'azure-double.log')})`,
              ),
          ),
      },
    ],
    vpcCidrs: async () => [LAB_AZURE_VNET],
    launchInstance: async (instanceType: string, nodeName: string): Promise<LaunchedInstance> => {
      const vm = await azureControl<{
        name: string;
        nic: string;
        mac: string;
        primaryAddress: string;
        subnetCidr: string;
      }>(socket, 'POST', '/vms', { name: nodeName, size: instanceType });
      return {
        instanceId: vm.name,
        instanceType,
        primaryInterfaceId: vm.nic,
        primaryAddress: vm.primaryAddress,
        mac: vm.mac,
        subnetCidr: vm.subnetCidr,
      };
    },
    daemonEnv: () => ({
      TIDEPOOL_PROVIDER: 'azure',
      AZURE_ARM_ENDPOINT: `https://${gw}`,
      TIDEPOOL_IMDS_ENDPOINT: `http://${gw}:${LAB_AZURE_IMDS_PORT}`,
      // @azure/identity's managed identity credential asks this host for its token (IMDS on a VM).
      AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://${gw}:${LAB_AZURE_IMDS_PORT}`,
      NODE_EXTRA_CA_CERTS: join(certDir, 'arm-ca.pem'),
    }),
    eventSource: () =>
      new PollingEventSource(`the Azure doubles at ${socket}`, async () => listNics(socket), 500),
  };
};

async function listNics(socket: string): Promise<InterfaceSnapshot[]> {
  const nics = await azureControl<AzureNicView[]>(socket, 'GET', '/nics');
  return nics.map((n) => ({
    instanceId: n.vm,
    interfaceId: n.nic,
    mac: n.mac,
    deviceNumber: 0,
    subnetCidr: n.subnetCidr,
    primaryAddress: n.primaryAddress,
    addresses: n.addresses,
    prefixes: n.prefixes,
  }));
}
