// Traffic measurements between network namespaces with the real tools: iperf3 (TCP throughput) and ping
// (round-trip time). Each runs inside the namespaces given, so nothing leaves the lab.
import { killGroup, runIn, startIn } from '../../../demo/exec.js';

export interface Endpoint {
  /** Network namespace the process runs in. */
  ns: string;
  /** Address the server binds to / the client sends to (or binds as source). */
  address: string;
}

/**
 * Both iperf3 ends run at a raised priority: on a small shared machine the kernel's forwarding work runs
 * mostly in the sender's and receiver's context, so this keeps other work from deciding the figure.
 */
const NICE = ['-n', '-15'];

let nextPort = 5201 + Math.floor(Math.random() * 2000);

/** TCP throughput from `client` to `server` over `seconds`, in Gbit/s (iperf3, one stream). */
export async function tcpThroughput(client: Endpoint, server: Endpoint, seconds: number): Promise<number> {
  const port = String(nextPort++);
  const srv = startIn(server.ns, 'nice', [
    ...NICE,
    'iperf3',
    '-s',
    '-1',
    '--forceflush',
    '-B',
    server.address,
    '-p',
    port,
  ]);
  try {
    await waitForOutput(srv, /Server listening/, 5000);
    const res = await runIn(
      client.ns,
      'nice',
      [
        ...NICE,
        'iperf3',
        '-c',
        server.address,
        '-B',
        client.address,
        '-p',
        port,
        '-t',
        String(seconds),
        '-J',
        '-O',
        '1',
      ],
      { timeoutMs: (seconds + 15) * 1000 },
    );
    const report = JSON.parse(res.stdout) as { end?: { sum_received?: { bits_per_second?: number } } };
    const bps = report.end?.sum_received?.bits_per_second;
    if (typeof bps !== 'number')
      throw new Error(`iperf3 gave no received throughput: ${res.stdout.slice(0, 300)}`);
    return bps / 1e9;
  } finally {
    killGroup(srv);
  }
}

export interface RttStats {
  minMs: number;
  avgMs: number;
  maxMs: number;
  mdevMs: number;
  loss: number;
}

/** Ping round-trip time from `from` to `to` (count probes, 10 ms apart; root may use short intervals). */
export async function pingRtt(from: Endpoint, to: string, count = 100): Promise<RttStats> {
  const res = await runIn(
    from.ns,
    'ping',
    ['-c', String(count), '-i', '0.01', '-q', '-W', '1', '-I', from.address, to],
    {
      allowFailure: true,
      timeoutMs: count * 100 + 5000,
    },
  );
  return parsePing(res.stdout);
}

export function parsePing(out: string): RttStats {
  const loss = /([\d.]+)% packet loss/.exec(out);
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(out);
  if (!loss) throw new Error(`cannot read ping output: ${out.slice(0, 300)}`);
  if (!rtt) return { minMs: NaN, avgMs: NaN, maxMs: NaN, mdevMs: NaN, loss: Number(loss[1]) / 100 };
  return {
    minMs: Number(rtt[1]),
    avgMs: Number(rtt[2]),
    maxMs: Number(rtt[3]),
    mdevMs: Number(rtt[4]),
    loss: Number(loss[1]) / 100,
  };
}

async function waitForOutput(
  child: ReturnType<typeof startIn>,
  pattern: RegExp,
  timeoutMs: number,
): Promise<void> {
  let seen = '';
  const timer = setTimeout(() => child.emit('timeout'), timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (d: Buffer) => {
        seen += d.toString();
        if (pattern.test(seen)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${seen}`)));
      child.once('timeout', () => reject(new Error(`server not listening after ${timeoutMs} ms: ${seen}`)));
    });
  } finally {
    clearTimeout(timer);
  }
}
