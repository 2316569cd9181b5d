// The daemon's connection to the Kubernetes API (@kubernetes/client-node): in a pod, the service account's
// in-cluster configuration (its token file is re-read, so bound tokens rotate); outside, the KUBECONFIG
// file (tests, a daemon run by hand).
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeSettings } from '../../config/settings.js';

export function loadKubeConfig(s: Pick<KubeSettings, 'inCluster' | 'kubeconfig'>): KubeConfig {
  const kc = new KubeConfig();
  if (s.inCluster) kc.loadFromCluster();
  else kc.loadFromFile(s.kubeconfig);
  if (!kc.getCurrentCluster())
    throw new Error(`the kubeconfig ${s.kubeconfig} has no current cluster (set its current-context)`);
  return kc;
}

/** The HTTP status of a failed API call (ApiException.code), or undefined for a transport error. */
export function apiStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A short sentence for logs: status and the API's own message when it sent one. */
export function apiMessage(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  let body = e.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // keep the text
    }
  }
  const msg = (body as { message?: string } | undefined)?.message;
  return msg ? `${e.code ?? ''} ${msg}`.trim() : (e.message ?? String(err));
}
