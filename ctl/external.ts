// Subcommands that live in other parts of the tree (`lab …` in lab/cli.ts, `demo …` in demo/cli.ts), loaded
// only when asked for, so `tidepoolctl status` does not pay for them at start-up.
import type { Io } from './io.js';

type Runner = (argv: string[]) => Promise<number>;

/**
 * Each loader imports its module with a literal path, so the bundler includes it in dist/bin/tidepoolctl
 * (evaluated only when the command is used). A loader answering null marks a command left out of a build.
 */
const loaders: Record<string, () => Promise<Runner | null>> = {
  lab: async () => (await import('../lab/cli.js')).runLab,
  demo: async () => (await import('../demo/cli.js')).runDemo,
};

export const EXTERNAL_COMMANDS = Object.keys(loaders);

export async function runExternal(name: string, argv: string[], io: Io): Promise<number> {
  const runner = await loaders[name]?.();
  if (!runner) {
    io.err(`tidepoolctl ${name}: this build has no "${name}" command (its module is not part of this build)`);
    return 2;
  }
  return runner(argv);
}
