// Run as its own Node process by test/unit/cni-client.test.ts: the plugin's DaemonClient in blocking mode, on
// the built addon (dist/native/netlink.node), connected to the socket argv[2]. A blocking call holds its whole
// process, so the server under test lives in another one (the test's). One call per stdin line
// ({"method", "req", "deadlineMs"} or {"health": deadlineMs}); one answer per stdout line ({"ok"} or the
// error's class name and fields). The first line says whether the addon's blocking socket is in use.
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { DaemonClient, GrpcStatusError } from '../../cni/client.js';
import { blockingUnix } from '../../cni/sys/netlink.js';

(globalThis as { __tidepoolNetlink?: () => string }).__tidepoolNetlink = () =>
  resolve('dist/native/netlink.node');

const client = new DaemonClient(process.argv[2], { blocking: true });
console.log(JSON.stringify({ blocking: blockingUnix() !== null }));
for await (const line of createInterface({ input: process.stdin })) {
  const c = JSON.parse(line) as { method?: 'Status'; req?: object; deadlineMs?: number; health?: number };
  try {
    const ok = c.health
      ? await client.health(c.health)
      : await client.call(c.method!, c.req as never, c.deadlineMs!);
    console.log(JSON.stringify({ ok }));
  } catch (err) {
    const e = err as Error;
    const grpc = err instanceof GrpcStatusError ? { status: err.status, details: err.details } : {};
    console.log(JSON.stringify({ error: e.name, message: e.message, ...grpc }));
  }
}
// stdin closed: nothing else may keep this process alive (a blocking client leaves no handle behind).
client.close();
