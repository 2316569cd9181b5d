// After the demo: is anything of it left? Namespaces with its prefix, processes in them, its state
// directory. The demo says what it found instead of claiming a clean exit.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { run } from './exec.js';

export async function leftovers(prefix: string, stateDir: string): Promise<string[]> {
  const found: string[] = [];
  const r = await run('ip', ['netns', 'list'], { allowFailure: true });
  for (const line of r.stdout.split('\n')) {
    const ns = line.split(' ')[0];
    if (ns && ns.startsWith(prefix)) found.push(`namespace ${ns}`);
  }
  if (existsSync(stateDir)) found.push(`directory ${stateDir}`);
  for (const pid of processesMentioning(stateDir)) found.push(`process ${pid}`);
  return found;
}

/** Processes whose command line names `path` (the lab's sim, fabric controller and daemons all do). */
export function processesMentioning(path: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(path)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
