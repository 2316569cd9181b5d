// The pod path of the datapath benchmark, in the one-machine lab: two nodes, a client pod on node-1 and
// a server pod on node-2 whose address lives on a secondary interface.
import type { Endpoint } from './traffic.js';

export interface LabPodPath {
  nodes: { ns: string; address: string; mtu: number }[];
  client: Endpoint;
  server: Endpoint;
  clientDevice: number;
  serverDevice: number;
  podMtu: number;
  remove(): Promise<void>;
}

export async function podPathInLab(_prefix: string, _log: (line: string) => void): Promise<LabPodPath> {
  throw new Error('the lab is not available in this tree yet (lab/); run with --self-test');
}
