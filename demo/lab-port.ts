// What the demo needs from the one-machine lab. lab-adapter.ts implements it with the lab's own API; the
// demo's scenario only sees this, so it reads as the story it tells.

export interface PodInfo {
  node: string;
  name: string;
  address: string;
  /** Device number of the interface that owns the address (0 = primary), when known. */
  deviceNumber?: number;
}

export interface PoolSnapshot {
  free: number;
  assigned: number;
  cooling: number;
  total: number;
  capacity: number;
  interfaces: number;
  parked: number;
}

export interface DemoLab {
  readonly nodes: string[];
  /** Prefix of every namespace the lab made, and its state directory (to check nothing is left). */
  readonly prefix: string;
  readonly stateDir: string;
  addPod(node: string, name: string): Promise<PodInfo>;
  delPod(node: string, name: string): Promise<void>;
  pool(node: string): Promise<PoolSnapshot>;
  /** 'sim' (the embedded cloud), 'LocalStack' or 'Azure' (the ARM and IMDS doubles). */
  readonly cloudName: string;
  /**
   * EC2 calls since the lab came up, by action: all the sim served; on LocalStack, those the daemons
   * made (it counts none itself). Rejects when they cannot be read.
   */
  cloudCalls(): Promise<Record<string, number>>;
  /** Pings `address` once from inside pod `fromPod`; true when it answered. */
  ping(fromPod: string, address: string): Promise<boolean>;
  down(): Promise<void>;
}

export interface LabUpOptions {
  nodes: number;
  instanceType: string;
  policy: 'aws-compatible' | 'adaptive';
  provider: 'sim' | 'localstack' | 'azure';
  /** Short random suffix shared by everything this run creates. */
  runId: string;
  log: (line: string) => void;
}
