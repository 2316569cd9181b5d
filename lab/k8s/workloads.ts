// Workloads the cluster lab runs (the demo, the tests): a Deployment spread evenly over the kubelet nodes
// (topologySpreadConstraints on the hostname, so 20 replicas on 2 nodes are 10 and 10), from an image
// imported into every node (imagePullPolicy Never: no registry), with an HTTP readiness probe.

export interface SpreadDeploymentOptions {
  name: string;
  replicas: number;
  image: string;
  port: number;
  /** The readiness probe's HTTP path on `port`. */
  readinessPath: string;
  args?: string[];
  /** Skew is counted only on nodes whose taints the pods tolerate (a node still tainted counts for none). */
  honorTaints?: boolean;
}

export function spreadDeployment(o: SpreadDeploymentOptions): object {
  const labels = { app: o.name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: o.name, namespace: 'default' },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 1,
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'DoNotSchedule',
              ...(o.honorTaints ? { nodeTaintsPolicy: 'Honor' } : {}),
              labelSelector: { matchLabels: labels },
            },
          ],
          containers: [
            {
              name: 'web',
              image: o.image,
              imagePullPolicy: 'Never',
              ...(o.args ? { args: o.args } : {}),
              ports: [{ containerPort: o.port }],
              readinessProbe: { httpGet: { path: o.readinessPath, port: o.port }, periodSeconds: 2 },
            },
          ],
        },
      },
    },
  };
}
