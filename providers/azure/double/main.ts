// dist/bin/tidepool-azure-double: the ARM and IMDS doubles and the lab's control API (server.ts), until
// SIGTERM or SIGINT. Options: see server.ts.
import { parseArgs, serve, USAGE } from './server.js';

let args: ReturnType<typeof parseArgs>;
try {
  args = parseArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`tidepool-azure-double: ${(e as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
serve(args).then(
  (stop) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const)
      process.once(sig, () => void stop().then(() => process.exit(0)));
  },
  (e: Error) => {
    process.stderr.write(`tidepool-azure-double: ${e.message}\n`);
    process.exit(1);
  },
);
