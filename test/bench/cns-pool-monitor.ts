// A model of Azure CNI's pool monitor (CNS IPAM v1, cns/ipampool/monitor.go; reference
// azure-cni-and-cilium-ipam.md A2), for the Azure benchmark's "batch16" side: the node's pool as CNS keeps
// it, scaled by the same rules, with its NIC writes made through Tidepool's real Azure provider (as DNC-RC
// would make them) against the ARM double.
//   minFree = round(B × RequestThresholdPercent/100), maxFree = round(B × ReleaseThresholdPercent/100)
//   (AKS: B = 16, 50 % and 150 % → 8 and 24); reconciled every 1 s:
//   - scale up when requested − assigned < minFree: requested += B − (requested mod B) (one batch per
//     reconcile, clamped to MaxIPCount 250);
//   - else scale down when secondaries − assigned − pendingRelease ≥ maxFree: release requested mod B
//     (or B when aligned) free IPs, requested −= that.
// A node starts with requested = B. A released pod's IP is Available again at once (CNS has no cooldown).
// Generous to CNS in one point: an ADD that finds no Available IP waits for one here, where CNS fails it
// and the kubelet retries with backoff.
import type { Provider } from '../../providers/types.js';

export interface CnsScaler {
  batchSize: number;
  requestThresholdPercent: number;
  releaseThresholdPercent: number;
  maxIpCount: number;
}

export const AKS_SCALER: CnsScaler = {
  batchSize: 16,
  requestThresholdPercent: 50,
  releaseThresholdPercent: 150,
  maxIpCount: 250,
};

export interface CnsPoolState {
  requested: number;
  assigned: number;
  /** Secondary IPs the NIC holds now (programmed). */
  secondaries: number;
  pendingRelease: number;
}

export type CnsDecision =
  | { kind: 'none' }
  | { kind: 'grow'; requested: number }
  | { kind: 'release'; count: number; requested: number };

/** clampScaler: B ∈ [1, max], request ∈ [1, 100], release ≥ request + 100. */
export function clampScaler(s: CnsScaler): CnsScaler {
  const maxIpCount = s.maxIpCount > 0 ? s.maxIpCount : 250;
  const batchSize = Math.min(Math.max(1, s.batchSize), maxIpCount);
  const requestThresholdPercent = Math.min(Math.max(1, s.requestThresholdPercent), 100);
  const releaseThresholdPercent = Math.max(s.releaseThresholdPercent, requestThresholdPercent + 100);
  return { batchSize, requestThresholdPercent, releaseThresholdPercent, maxIpCount };
}

/** One reconcile of the v1 pool monitor. */
export function cnsV1Step(state: CnsPoolState, scaler: CnsScaler = AKS_SCALER): CnsDecision {
  const s = clampScaler(scaler);
  const b = s.batchSize;
  const minFree = Math.floor((b * s.requestThresholdPercent) / 100 + 0.5);
  const maxFree = Math.floor((b * s.releaseThresholdPercent) / 100 + 0.5);
  const expectedAvailable = state.requested - state.assigned;
  if (expectedAvailable < minFree && state.requested !== s.maxIpCount) {
    const requested = Math.min(state.requested + b - (state.requested % b), s.maxIpCount);
    return { kind: 'grow', requested };
  }
  const currentAvailable = state.secondaries - state.assigned - state.pendingRelease;
  if (currentAvailable >= maxFree) {
    const count = state.requested % b || b;
    return { kind: 'release', count, requested: state.requested - count };
  }
  return { kind: 'none' };
}

/** The v1 monitor driving one NIC through a Provider; allocate/release as CNS serves the CNI. */
export class CnsV1Node {
  requested: number;
  private available: string[] = [];
  private readonly assigned = new Map<string, string>();
  private pendingRelease = 0;
  private adding = 0;
  private holding = 0;
  private readonly waiters: ((ip: string) => void)[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly provider: Provider,
    private readonly nicId: string,
    private readonly scaler: CnsScaler = AKS_SCALER,
  ) {
    this.requested = scaler.batchSize;
  }

  /** Free IPs held (not assigned, not pending release). */
  get free(): number {
    return this.available.length;
  }

  /** The node starts with one batch requested; then the monitor runs every second. */
  async start(): Promise<void> {
    this.converge();
    while (this.adding > 0) await new Promise((r) => setTimeout(r, 100));
    this.timer = setInterval(() => this.reconcile(), 1000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  allocate(key: string): Promise<string> {
    const ip = this.available.shift();
    if (ip) {
      this.assigned.set(key, ip);
      return Promise.resolve(ip);
    }
    return new Promise((resolve) =>
      this.waiters.push((got) => {
        this.assigned.set(key, got);
        resolve(got);
      }),
    );
  }

  release(key: string): void {
    const ip = this.assigned.get(key);
    if (!ip) return;
    this.assigned.delete(key);
    this.give(ip);
  }

  private give(ip: string) {
    const w = this.waiters.shift();
    if (w) w(ip);
    else this.available.push(ip);
  }

  private reconcile() {
    const d = cnsV1Step(
      {
        requested: this.requested,
        assigned: this.assigned.size,
        secondaries: this.holding,
        pendingRelease: this.pendingRelease,
      },
      this.scaler,
    );
    if (d.kind === 'grow') {
      this.requested = d.requested;
      this.converge();
    } else if (d.kind === 'release') {
      this.requested = d.requested;
      const ips = this.available.splice(0, d.count);
      if (!ips.length) return;
      this.pendingRelease += ips.length;
      void this.provider.releaseAddresses(this.nicId, ips).then(
        () => {
          this.pendingRelease -= ips.length;
          this.holding -= ips.length;
        },
        () => {
          this.pendingRelease -= ips.length;
          ips.forEach((ip) => this.give(ip));
        },
      );
    }
  }

  /** DNC-RC's part: bring the NIC's secondary IPs up to `requested`. */
  private converge() {
    const want = this.requested - this.holding - this.adding;
    if (want <= 0) return;
    this.adding += want;
    void this.provider.assignAddresses(this.nicId, want).then(
      (ips) => {
        this.adding -= want;
        this.holding += ips.length;
        ips.forEach((ip) => this.give(ip));
      },
      () => (this.adding -= want),
    );
  }
}
