// Undo steps of a command that failed half-way, run newest first (Go plugins' deferred cleanups). Every
// undo is attempted; their own failures are logged, the original error is what the runtime sees.
import type { Logger } from './log.js';

export class Rollback {
  private readonly steps: { what: string; undo: () => Promise<unknown> | unknown }[] = [];

  constructor(private readonly log: Logger) {}

  push(what: string, undo: () => Promise<unknown> | unknown): void {
    this.steps.push({ what, undo });
  }

  async run(): Promise<void> {
    for (const step of this.steps.reverse()) {
      try {
        await step.undo();
        this.log.info('rolled back', { step: step.what });
      } catch (err) {
        this.log.error('rollback step failed', { step: step.what, error: (err as Error).message });
      }
    }
    this.steps.length = 0;
  }
}
