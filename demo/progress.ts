// The demo's live view of each node's pool. On a terminal it redraws a block of lines in place with ANSI
// cursor movement (log lines scroll above the block); anywhere else (a pipe, a CI log, the e2e test) it
// prints plain lines, one per change, so the output reads as a transcript.

export interface NodePoolView {
  node: string;
  free: number;
  assigned: number;
  cooling: number;
  total: number;
  /** Addresses the node can hold for pods at most. */
  capacity: number;
  interfaces: number;
  parked: number;
  /** Pods running on the node / pods the demo wants on it now. */
  podsReady: number;
  podsWanted: number;
}

export interface Output {
  write(s: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

const ESC = '\x1b[';

/** One node's pool as a bar: █ assigned, ▒ cooling, ░ free, · room the node could still grow into. */
export function poolBar(v: NodePoolView, width: number): string {
  const cap = Math.max(v.capacity, v.total, 1);
  const scale = (n: number) => Math.round((n / cap) * width);
  const a = scale(v.assigned);
  const c = Math.min(width - a, scale(v.cooling));
  const f = Math.min(width - a - c, scale(v.free));
  return '█'.repeat(a) + '▒'.repeat(c) + '░'.repeat(f) + '·'.repeat(Math.max(0, width - a - c - f));
}

/** The plain one-line description of a node's pool, used for non-TTY output and under the bar. */
export function describePool(v: NodePoolView): string {
  const ifs = `${v.interfaces} interface${v.interfaces === 1 ? '' : 's'}`;
  const parked = v.parked ? `, ${v.parked} waiting` : '';
  const pods =
    v.podsWanted === v.podsReady ? `${v.podsReady} pods` : `${v.podsReady} pods (→ ${v.podsWanted})`;
  return (
    `${v.node}: ${pods} · addresses ${v.assigned} assigned, ${v.free} free, ` +
    `${v.cooling} cooling (${v.total} held of ${v.capacity}, ${ifs}${parked})`
  );
}

export class ProgressDisplay {
  private readonly tty: boolean;
  private drawn = 0;
  private lastPlain = new Map<string, string>();
  private views: NodePoolView[] = [];
  private phase = '';

  constructor(
    private readonly out: Output,
    opts: { tty?: boolean } = {},
  ) {
    this.tty = opts.tty ?? Boolean(out.isTTY);
  }

  /** A line that stays in the transcript (scrolls above the live block on a terminal). */
  log(line: string): void {
    if (this.tty) {
      this.clearBlock();
      this.out.write(line + '\n');
      this.drawBlock();
    } else {
      this.out.write(line + '\n');
    }
  }

  setPhase(phase: string): void {
    this.phase = phase;
    if (this.tty) this.redraw();
    else this.out.write(`== ${phase}\n`);
  }

  update(views: NodePoolView[]): void {
    const same = JSON.stringify(views) === JSON.stringify(this.views);
    this.views = views;
    if (this.tty) {
      if (!same) this.redraw();
      return;
    }
    for (const v of views) {
      const line = describePool(v);
      if (this.lastPlain.get(v.node) !== line) {
        this.lastPlain.set(v.node, line);
        this.out.write(line + '\n');
      }
    }
  }

  /** Leaves the last state on screen and moves below it. */
  close(): void {
    this.drawn = 0;
  }

  private redraw(): void {
    this.clearBlock();
    this.drawBlock();
  }

  private clearBlock(): void {
    if (this.drawn > 0) this.out.write(`${ESC}${this.drawn}A${ESC}0J`);
    this.drawn = 0;
  }

  private drawBlock(): void {
    const columns = this.out.columns ?? 80;
    const width = Math.max(20, Math.min(60, columns - 20));
    const lines: string[] = [];
    if (this.phase) lines.push(`${ESC}1m${this.phase}${ESC}0m`);
    for (const v of this.views) {
      lines.push(`  ${v.node.padEnd(8)} [${poolBar(v, width)}] ${v.assigned}/${v.total}`);
      // A line that wraps would break the cursor arithmetic of the redraw: cut it to the terminal width.
      lines.push(`  ${' '.repeat(8)} ${describePool(v).slice(v.node.length + 2)}`.slice(0, columns - 1));
    }
    if (this.views.length) lines.push(`  ${ESC}2m█ assigned  ▒ cooling  ░ free  · room to grow${ESC}0m`);
    for (const l of lines) this.out.write(l + '\n');
    this.drawn = lines.length;
  }
}
