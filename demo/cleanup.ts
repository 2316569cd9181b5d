// Undo actions registered as things are created, run once in reverse order: on normal exit, on error,
// and on Ctrl-C / SIGTERM / SIGHUP, so the demo and the benchmarks never leave a namespace, link,
// process or file behind.

type Undo = () => Promise<void> | void;

export class Cleanup {
  private undos: { what: string; undo: Undo }[] = [];
  private running: Promise<void> | null = null;
  private signalHandlers: { sig: NodeJS.Signals; fn: () => void }[] = [];

  add(what: string, undo: Undo): void {
    this.undos.push({ what, undo });
  }

  /** Runs every undo (last registered first); errors are reported, never stop the others. */
  run(report: (msg: string) => void = (m) => process.stderr.write(m + '\n')): Promise<void> {
    if (!this.running) {
      this.running = (async () => {
        while (this.undos.length) {
          const { what, undo } = this.undos.pop()!;
          try {
            await undo();
          } catch (err) {
            report(`cleanup: ${what}: ${(err as Error).message}`);
          }
        }
      })();
    }
    return this.running;
  }

  /**
   * On SIGINT/SIGTERM/SIGHUP: `onSignal` is told, everything is undone, and the process exits with
   * 128 + signal number. A second Ctrl-C while cleaning up is ignored (cleanup must finish).
   */
  onSignals(onSignal: (sig: NodeJS.Signals) => void = () => {}): void {
    const codes: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
    for (const sig of Object.keys(codes) as NodeJS.Signals[]) {
      const fn = () => {
        if (this.running) return;
        onSignal(sig);
        void this.run().finally(() => process.exit(128 + (codes[sig] ?? 0)));
      };
      process.on(sig, fn);
      this.signalHandlers.push({ sig, fn });
    }
  }

  offSignals(): void {
    for (const { sig, fn } of this.signalHandlers) process.off(sig, fn);
    this.signalHandlers = [];
  }
}
