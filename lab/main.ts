// Runs the lab without the bundled CLI: `node --import tsx lab/main.ts up …` (tests and development);
// `tidepoolctl lab …` is the same code.
import { runLab } from './cli.js';

process.exitCode = await runLab(process.argv.slice(2));
