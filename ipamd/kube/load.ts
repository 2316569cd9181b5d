// Loads the Kubernetes integration by a path computed at run time, as ipamd/providers.ts loads the AWS
// provider: a literal import would bundle @kubernetes/client-node into the daemon's executable, and a daemon
// outside Kubernetes would pay for loading it. From dist/bin/tidepool-ipamd it is dist/lib/kube.js
// (scripts/build.mjs); from the sources (tsx), ipamd/kube/index.ts.
type KubeModule = typeof import('./index.js');

export function loadKubeModule(): Promise<KubeModule> {
  const here = import.meta.url;
  const url = /\.ts$/.test(new URL(here).pathname)
    ? new URL('./index.ts', here)
    : new URL('../lib/kube.js', here);
  return import(url.href) as Promise<KubeModule>;
}
