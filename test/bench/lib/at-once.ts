// Runs commands all at the same instant (test/bench/lib/at-once.py) and returns each one's wall time from
// that instant to its exit, and its own CPU time.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LAUNCHER = fileURLToPath(new URL('./at-once.py', import.meta.url));

export interface AtOnceRun {
  argv: string[];
  env: NodeJS.ProcessEnv;
  stdin?: string;
}

export interface AtOnceResult {
  ms: number;
  code: number;
  userMs: number;
  sysMs: number;
  stdout: string;
  stderr: string;
}

export function atOnce(runs: AtOnceRun[]): Promise<AtOnceResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [LAUNCHER], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`at-once.py exited with ${code}: ${stderr}`));
      resolve(JSON.parse(stdout) as AtOnceResult[]);
    });
    const env = (e: NodeJS.ProcessEnv) =>
      Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as Record<string, string>;
    child.stdin.end(JSON.stringify({ runs: runs.map((r) => ({ ...r, env: env(r.env) })) }));
  });
}
