// Installs the conflist into the host's CNI configuration directory at the moment the pool can first serve
// (readiness.ts). A runtime loads a conflist as soon as it appears (containerd 1.6 declares the node's network
// ready on its existence alone), so it must not be there before an address can be handed out.
//
// Once written it stays, through a daemon stop, a crash and an exhausted pool: removing it turns the kubelet's
// node NotReady, which marks every running pod NotReady (Service endpoints drop them) and starts the
// not-ready eviction clock, while those pods' datapath keeps working without the daemon. New pods are kept
// off a node that cannot serve by the NetworkReady condition and CNI STATUS instead. The write is atomic
// (a temporary file renamed over the old one), so a runtime never reads half a file.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Conflist } from '../../config/conflist.js';

export class ConflistInstaller {
  readonly path: string;

  constructor(
    readonly dir: string,
    name: string,
  ) {
    this.path = join(dir, name);
  }

  /** Writes the conflist unless the same content is already there; returns whether it wrote. */
  install(conflist: Conflist): boolean {
    const text = JSON.stringify(conflist, null, 2) + '\n';
    if (existsSync(this.path) && readFileSync(this.path, 'utf8') === text) return false;
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const tmp = join(this.dir, `.${process.pid}.tidepool.conflist.tmp`);
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, this.path);
    return true;
  }

  installed(): boolean {
    return existsSync(this.path);
  }
}
