// Entry point of dist/bin/tidepool-ipamd, the node daemon. Bad configuration exits 2 before anything is
// touched; SIGTERM or SIGINT stops accepting calls, lets those in flight finish, closes cleanly, exits 0.
import { ConfigError, loadSettings, type Settings } from '../config/settings.js';
import { startDaemon, type RunningDaemon } from './daemon.js';
import { createLogger, type Logger } from './log.js';

function settingsOrExit(): Settings {
  try {
    return loadSettings(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`tidepool-ipamd: ${err.message}\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const settings = settingsOrExit();
  // Everything the daemon creates (socket, state database) is for root alone.
  process.umask(0o077);
  const logger: Logger = createLogger(settings.daemon);
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon(settings, logger);
  } catch (err) {
    logger.fatal({ err }, `cannot start: ${(err as Error).message}`);
    process.exit(1);
  }
  daemon.ready.then(
    () => logger.info(daemon.core.status(), 'ready: node interfaces listed'),
    (err: unknown) => {
      // Without the node's description the pool can neither grow nor be checked: exit so the supervisor
      // restarts the daemon (allocations stay in the store).
      logger.fatal({ err }, `cannot reach the cloud to describe this node: ${(err as Error).message}`);
      void daemon.stop(1000).finally(() => process.exit(1));
    },
  );
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal }, 'stopping: no new calls, finishing those in flight');
    daemon.stop().then(
      () => {
        logger.info('stopped cleanly');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

void main();
