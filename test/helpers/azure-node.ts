// An Azure cloud for tests: the ARM double (HTTPS) and the IMDS double (HTTP) on 127.0.0.1, and a
// Tidepool node on them: the daemon's real core (IpamCore + StateStore) with the real Azure provider,
// whose SDK clients (@azure/arm-network, @azure/identity) reach the doubles only through their endpoints:
// AZURE_ARM_ENDPOINT, TIDEPOOL_IMDS_ENDPOINT and AZURE_POD_IDENTITY_AUTHORITY_HOST. The double's
// self-signed certificate is trusted in this process with tls.setDefaultCACertificates (a child process
// would get NODE_EXTRA_CA_CERTS). Pool timers run on a VirtualClock; ARM calls take real time.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { loadSettings, type Env, type Settings } from '../../config/settings.js';
import { IpamCore } from '../../ipamd/core/core.js';
import { providerBudget } from '../../ipamd/cloud/providers.js';
import { StateStore } from '../../ipamd/state/store.js';
import { VirtualClock } from '../../providers/clock.js';
import { createAzureProvider, type AzureProvider } from '../../providers/azure/index.js';
import { ArmDouble, type ArmDoubleOptions } from '../../providers/azure/double/arm-double.js';
import { ImdsDouble } from '../../providers/azure/double/imds-double.js';

export interface AzureCloud {
  arm: ArmDouble;
  imds: ImdsDouble;
  vmName: string;
  nicName: string;
  stop(): Promise<void>;
}

const baseCas = tls.getCACertificates('default');
const extraCas: string[] = [];

/** One VNet subnet, one VM of `size` with one NIC in it, and the doubles serving them. */
export async function azureCloud(
  opts: Partial<ArmDoubleOptions> & { size?: string; subnetCidr?: string } = {},
): Promise<AzureCloud> {
  const arm = await new ArmDouble({ token: 'tidepool-test-token', ...opts }).start();
  const subnet = arm.addSubnet('vnet-tidepool', 'nodes', opts.subnetCidr ?? '10.20.0.0/22');
  const vm = arm.addVm('node-a', opts.size ?? 'Standard_D4s_v5', [subnet]);
  const imds = await new ImdsDouble(arm, vm.name).start();
  // Every double's CA at once: several clouds may be up together (the benchmark runs its sides at once).
  extraCas.push(readFileSync(arm.caFile, 'utf8'));
  tls.setDefaultCACertificates([...baseCas, ...extraCas]);
  // Read by @azure/identity's managed identity credential (IMDS source) when it is created.
  process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = imds.url;
  return {
    arm,
    imds,
    vmName: vm.name,
    nicName: vm.nics[0],
    async stop() {
      await imds.stop();
      await arm.stop();
    },
  };
}

export function azureSettings(cloud: AzureCloud, env: Env = {}): Settings {
  return loadSettings({
    TIDEPOOL_PROVIDER: 'azure',
    TIDEPOOL_IMDS_ENDPOINT: cloud.imds.url,
    AZURE_ARM_ENDPOINT: cloud.arm.url,
    ...env,
  });
}

export function azureProvider(cloud: AzureCloud, env: Env = {}): AzureProvider {
  return createAzureProvider(azureSettings(cloud, env), { pollIntervalMs: 20 });
}

export interface AzureNode {
  clock: VirtualClock;
  provider: AzureProvider;
  core: IpamCore;
  drive(cond: () => boolean | Promise<boolean>, limitMs?: number): Promise<void>;
  /** The daemon's view: sorted addresses of the pod NIC. */
  daemonAddresses(): string[];
  stop(): Promise<void>;
}

const realSleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function azureNode(cloud: AzureCloud, env: Env = {}, dir?: string): Promise<AzureNode> {
  const clock = new VirtualClock(Date.now());
  const settings = azureSettings(cloud, env);
  const provider = createAzureProvider(settings, { pollIntervalMs: 20 });
  const stateDir = dir ?? mkdtempSync(join(tmpdir(), 'azure-node-'));
  const store = StateStore.open(join(stateDir, 'state.db'), () => clock.now());
  const core = new IpamCore({ settings, provider, store, clock, budget: providerBudget(settings) });
  const node: AzureNode = {
    clock,
    provider,
    core,
    async drive(cond, limitMs = 600_000) {
      const end = clock.now() + limitMs;
      while (!(await cond())) {
        if (clock.now() >= end)
          throw new Error(
            `condition not reached in ${limitMs} ms of virtual time: ${JSON.stringify(core.status())}; ` +
              `${core.reconciler.waitingOn()}; ARM: ${cloud.arm.secondaries(cloud.nicName).length} secondaries`,
          );
        // While a NIC PUT is on the wire, virtual time runs near real speed (a parked ADD's wait holds).
        await clock.advance(provider.arm.putsInFlight ? 5 : 100);
        await realSleep(3);
      }
    },
    daemonAddresses() {
      return core
        .snapshot()
        .interfaces.flatMap((i) => i.addresses.map((a) => a.address))
        .sort();
    },
    async stop() {
      const stopping = core.stop().catch(() => undefined);
      let done = false;
      void stopping.then(() => (done = true));
      while (!done) {
        await clock.advance(1000);
        await realSleep(5);
      }
      await provider.close();
      if (!dir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return node;
}
