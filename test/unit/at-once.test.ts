// The benchmarks' "N at once" launcher (test/bench/lib/at-once.py): every run gets its own environment and
// stdin, its exit status, output and CPU come back in the order given, and a command that cannot run says so.
import { atOnce } from '../bench/lib/at-once.js';

describe('atOnce', () => {
  it('runs every command with its environment and stdin, and reports each in order', async () => {
    const [echo, cat, failing, missing] = await atOnce([
      { argv: ['sh', '-c', 'echo "$WHO"; echo oops >&2'], env: { PATH: process.env.PATH, WHO: 'first' } },
      { argv: ['cat'], env: { PATH: process.env.PATH }, stdin: 'from stdin' },
      { argv: ['sh', '-c', 'exit 3'], env: { PATH: process.env.PATH } },
      { argv: ['/nonexistent/tool'], env: {} },
    ]);
    expect(echo).toMatchObject({ code: 0, stdout: 'first\n', stderr: 'oops\n' });
    expect(cat).toMatchObject({ code: 0, stdout: 'from stdin' });
    expect(failing.code).toBe(3);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/cannot run \/nonexistent\/tool/);
    for (const r of [echo, cat, failing, missing]) expect(r.ms).toBeGreaterThan(0);
    // Each child's own CPU (wait4), not the launcher's: a command that ran used some.
    for (const r of [echo, cat, failing]) expect(r.userMs + r.sysMs).toBeGreaterThan(0);
  });

  it('releases the runs together: when the first one starts, every one has been forked', async () => {
    // Each run counts the launcher's children as it starts, then stays a moment so that none has ended
    // before the slowest has counted. Without the barrier the first run would start while the launcher
    // was still forking the others, and count fewer.
    const n = 8;
    const runs = await atOnce(
      Array.from({ length: n }, () => ({
        argv: ['sh', '-c', 'pgrep -c -P "$PPID"; sleep 0.5'],
        env: { PATH: process.env.PATH },
      })),
    );
    expect(runs.map((r) => r.code)).toEqual(Array(n).fill(0));
    // pgrep counts the launcher's children, the runs (its own process is a child of a run).
    expect(Math.min(...runs.map((r) => Number(r.stdout.trim())))).toBe(n);
  });
});
