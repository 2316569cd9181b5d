// Custom networking as the incumbent does it, on a real kube-apiserver: the ENIConfig CRD
// (crd.k8s.amazonaws.com/v1alpha1), AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true and ENI_CONFIG_LABEL_DEF=
// topology.kubernetes.io/zone steer the node's new interfaces into the ENIConfig's subnet with its security
// groups; a node without custom networking puts them into its own subnet (the control).
import { jest } from '@jest/globals';
import type { TestNode } from '../helpers/daemon.js';
import { KubeControlPlane, eventually, kubeNode } from '../helpers/kube-apiserver.js';

jest.setTimeout(240_000);

const NODE_SUBNET = 'subnet-0a0a0001';
const POD_SUBNET = 'subnet-0b0b0002';
const SIM_ARGS = [
  '--subnet',
  `10.0.0.0/20@us-east-1a@${NODE_SUBNET}`,
  '--subnet',
  `10.0.16.0/20@us-east-1a@${POD_SUBNET}`,
];

// The incumbent's CRD (charts/aws-vpc-cni/crds), as an EKS cluster has it.
const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'eniconfigs.crd.k8s.amazonaws.com' },
  spec: {
    group: 'crd.k8s.amazonaws.com',
    scope: 'Cluster',
    names: { plural: 'eniconfigs', singular: 'eniconfig', kind: 'ENIConfig', listKind: 'ENIConfigList' },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            'x-kubernetes-preserve-unknown-fields': true,
            properties: {
              spec: {
                type: 'object',
                properties: {
                  securityGroups: { type: 'array', items: { type: 'string' } },
                  subnet: { type: 'string' },
                },
                required: ['subnet'],
              },
              status: { type: 'object' },
            },
          },
        },
      },
    ],
  },
};

let cp: KubeControlPlane;
const nodes: TestNode[] = [];

beforeAll(async () => {
  cp = await KubeControlPlane.start();
  await cp.apply(CRD);
  await cp.k([
    'wait',
    '--for=condition=Established',
    'crd/eniconfigs.crd.k8s.amazonaws.com',
    '--timeout=30s',
  ]);
  await cp.apply({
    apiVersion: 'crd.k8s.amazonaws.com/v1alpha1',
    kind: 'ENIConfig',
    metadata: { name: 'us-east-1a' },
    spec: { subnet: POD_SUBNET, securityGroups: ['sg-0pods0001'] },
  });
});

afterAll(async () => {
  for (const n of nodes) await n.cleanup();
  await cp?.stop();
});

async function secondaryInterfaces(n: TestNode) {
  return eventually('a second interface attached', async () => {
    const ifs = (await n.sim.interfacesOf(n.daemon.instanceId)).filter((i) => i.attachment!.deviceIndex > 0);
    return ifs.length ? ifs : undefined;
  });
}

test.each([
  ['with custom networking, into the ENIConfig subnet with its groups', true],
  ['without, into the node subnet (control)', false],
])('new interfaces: %s', async (_name, custom) => {
  const name = custom ? 'node-custom' : 'node-plain';
  const n = await kubeNode(cp, name, {
    args: SIM_ARGS,
    env: {
      AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: String(custom),
      ENI_CONFIG_LABEL_DEF: 'topology.kubernetes.io/zone',
      // Two whole interfaces' worth of free addresses: the pool attaches a second interface at start.
      WARM_ENI_TARGET: '2',
    },
  });
  nodes.push(n);
  await n.sim.admin.launchInstance({
    instanceType: 'm5.large',
    instanceId: n.daemon.instanceId,
    subnetId: NODE_SUBNET,
  });
  await n.daemon.start();
  const [eni] = await secondaryInterfaces(n);
  if (custom) {
    expect(eni.subnetId).toBe(POD_SUBNET);
    expect(eni.securityGroups).toEqual(['sg-0pods0001']);
  } else {
    expect(eni.subnetId).toBe(NODE_SUBNET);
    expect(eni.securityGroups).not.toContain('sg-0pods0001');
  }
});
