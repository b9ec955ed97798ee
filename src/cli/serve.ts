/**
 * `berth serve [config]`: like `registry serve`, the configuration comes from the argument, else
 * REGISTRY_CONFIGURATION_PATH, else the embedded default. SIGINT/SIGTERM close the server gracefully;
 * a second signal exits at once.
 */
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import type { RunningServer } from '../http/server.js';
import { createLogger, type Logger } from '../log/logger.js';
import { berthVersion } from './version.js';

function reportConfig(logger: Logger, loaded: LoadedConfig): void {
  logger.info({ version: berthVersion(), config: loaded.source }, 'starting berth');
  for (const warning of loaded.warnings) logger.warn(`configuration: ${warning}`);
  for (const key of loaded.notSupportedYet) {
    logger.warn({ key }, `configuration: ${key} is not supported yet and is ignored`);
  }
}

/** Runs the registry until a signal stops it. Sets `process.exitCode` instead of throwing. */
export async function serve(configPath: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig({ file: configPath, env });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 1;
    return;
  }
  const logger = createLogger(loaded.config.log);
  reportConfig(logger, loaded);

  let server: RunningServer;
  try {
    // Loaded here, not at the top, so `config check` and `--help` never load the HTTP stack.
    const { startServer } = await import('../http/server.js');
    const drain = loaded.config.http.draintimeout;
    server = await startServer(loaded.config, { logger, ...(drain === undefined ? {} : { drainTimeoutMs: drain }) });
  } catch (err) {
    logger.error({ err }, 'failed to start');
    process.exitCode = 1;
    return;
  }
  logger.info({ url: server.url }, `ready at ${server.url}`);

  let closing = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    closing = true;
    logger.info({ signal }, 'shutting down');
    server.close().then(
      () => {
        logger.info('stopped');
        // Exit even if some module left a timer or socket behind: an orchestrator is waiting on us.
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'graceful shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the registry')
    .argument('[config]', 'configuration file (default: $REGISTRY_CONFIGURATION_PATH, else the embedded default)')
    .action(async (config: string | undefined) => {
      await serve(config);
    });
}
