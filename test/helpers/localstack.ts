// Integration tests' LocalStack: installed and started by localstack/start.sh when nothing healthy listens
// on LOCALSTACK_PORT (default 4566), shared by concurrent test files through lease files, and stopped by
// the last test file to finish — only when a test started it (a LocalStack the developer runs is left alone).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { ec2For, seedCluster, type SeedOptions, type SeededCluster } from '../../localstack/seed.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PORT = process.env.LOCALSTACK_PORT || '4566';
const STATE = join(ROOT, '.cache', 'localstack', PORT);
const LEASES = join(STATE, 'leases');
const MARK = join(STATE, 'started-by-tests');
const LOCK = join(ROOT, '.cache', 'localstack', `${PORT}.lock`);

export interface LocalStackLease {
  endpoint: string;
  ec2: EC2Client;
  release(): void;
}

function healthy(): boolean {
  try {
    execFileSync('curl', ['-sf', '-m', '2', `http://127.0.0.1:${PORT}/_localstack/health`], {
      stdio: 'pipe',
    });
    return true;
  } catch {
    return false;
  }
}

function locked(args: string[]): string {
  mkdirSync(dirname(LOCK), { recursive: true });
  // -o: the lock's descriptor is not inherited by what start.sh leaves running (LocalStack would hold it).
  return execFileSync('flock', ['-o', LOCK, ...args], {
    cwd: ROOT,
    env: { ...process.env, LOCALSTACK_PORT: PORT },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60_000, // a fresh machine installs LocalStack first (minutes)
  }).trim();
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Starts (or joins) LocalStack and takes a lease; release() in afterAll. */
export function useLocalStack(): LocalStackLease {
  const wasUp = healthy();
  const endpoint = locked(['bash', 'localstack/start.sh']).split('\n').pop()!;
  mkdirSync(LEASES, { recursive: true });
  if (!wasUp && !existsSync(MARK)) writeFileSync(MARK, String(process.pid));
  const lease = join(LEASES, `${process.pid}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(lease, String(process.pid));
  const ec2 = ec2For(endpoint);
  return {
    endpoint,
    ec2,
    release() {
      ec2.destroy();
      rmSync(lease, { force: true });
      for (const f of readdirSync(LEASES))
        if (!alive(Number(f.split('-')[0]))) rmSync(join(LEASES, f), { force: true });
      if (readdirSync(LEASES).length === 0 && existsSync(MARK)) {
        locked(['bash', 'localstack/stop.sh']);
        rmSync(MARK, { force: true });
      }
    },
  };
}

/** A VPC of its own for one test (moto keeps addresses unique per subnet, so VPCs never interfere). */
export async function seed(ec2: EC2Client, opts: Partial<SeedOptions> = {}): Promise<SeededCluster> {
  return seedCluster(ec2, {
    octet: opts.octet ?? 100 + Math.floor(Math.random() * 150),
    instanceTypes: opts.instanceTypes ?? ['m5.large'],
    clusterName: opts.clusterName,
  });
}
