// Run as its own Node process by test/unit/cni-sys.test.ts, as the plugin runs (outside jest's module
// sandbox): exercises cni/sys against a Unix socket echo server and a few children, printing one JSON line.
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSync } from '../../cni/sys/spawn.js';
import { connectUnix, type ByteStream } from '../../cni/sys/unix-socket.js';

const dir = process.argv[2];

function talk(path: string, first: string[], last: string) {
  return new Promise<{ got: string; error?: string; closed: boolean }>((resolve) => {
    let got = '';
    let error: string | undefined;
    let stream: ByteStream | undefined;
    let sentLast = false;
    const expect = first.join('').length;
    const timer = setTimeout(() => (stream?.destroy(), resolve({ got, error, closed: false })), 3000);
    void connectUnix(path, {
      data: (c) => {
        got += c.toString();
        if (!sentLast && got.length >= expect) {
          sentLast = true;
          stream?.write(Buffer.from(last));
        }
      },
      error: (code) => (error = code),
      close: () => (clearTimeout(timer), resolve({ got, error, closed: true })),
    }).then((s) => {
      stream = s;
      for (const m of first) s.write(Buffer.from(m)); // before the connection completes: queued in order
    });
  });
}

const socket = join(dir, 'echo.sock');
const server = createServer((c) => {
  c.on('error', () => undefined);
  c.on('data', (d) => (d.toString().includes('bye') ? c.end('BYE') : c.write(d.toString().toUpperCase())));
});
await new Promise<void>((r) => server.listen(socket, r));
const refused = join(dir, 'plain-file.sock');
writeFileSync(refused, '');
const out = {
  echo: await talk(socket, ['abc', 'def'], 'bye'),
  absent: (await talk(join(dir, 'absent.sock'), ['x'], 'y')).error,
  refused: (await talk(refused, ['x'], 'y')).error,
  child: await runSync(['/bin/sh', '-c', 'tr a-z A-Z; echo oops >&2; exit 3'], 'hello\n'),
  missing: (await runSync(['/nonexistent/program'], '')).error,
  early: (await runSync(['/bin/sh', '-c', 'exit 5'], 'x'.repeat(1 << 20))).status,
};
server.close();
process.stdout.write(JSON.stringify(out) + '\n');
