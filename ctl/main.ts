// Entry point of dist/bin/tidepoolctl.
import { runCtl } from './cli.js';
import { processIo } from './io.js';

runCtl(process.argv.slice(2), processIo).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tidepoolctl: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
