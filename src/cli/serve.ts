/**
 * `berth serve [config]`: like `registry serve`, the configuration comes from the argument, else
 * REGISTRY_CONFIGURATION_PATH, else the embedded default. SIGINT/SIGTERM close the server gracefully;
 * a second signal exits at once.
 */
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import type { LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { RunningServer } from '../http/server.js';
import { createLogger, type Logger } from '../log/logger.js';
import {
  forkEarlyWorkers,
  type HandedConfig,
  isClusterWorker,
  receiveHandedConfig,
  startWorkers,
  type WorkerPool,
  workerCount,
} from './cluster.js';
import { berthVersion } from './version.js';

function reportConfig(logger: Logger, loaded: LoadedConfig): void {
  logger.info({ version: berthVersion(), config: loaded.source }, 'starting berth');
  for (const warning of loaded.warnings) logger.warn(`configuration: ${warning}`);
  for (const key of loaded.notSupportedYet) {
    logger.warn({ key }, `configuration: ${key} is not supported yet and is ignored`);
  }
}

/**
 * Runs the registry until a signal stops it. Sets `process.exitCode` instead of throwing.
 * `early`: the workers a primary forked before it read the configuration ({@link forkEarlyWorkers}).
 */
export async function serve(
  configPath: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  early: WorkerPool | undefined = forkEarlyWorkers(env, configPath),
): Promise<void> {
  if (isClusterWorker()) {
    // Loads the server while the primary may still be checking the configuration.
    const [handed] = await Promise.all([receiveHandedConfig(), import('../http/server.js')]);
    await serveInProcess(handed.config, createLogger(handed.config.log).child({ pid: process.pid }), handed);
    return;
  }
  let loaded: LoadedConfig;
  try {
    loaded = (await import('../config/load.js')).loadConfig({ file: configPath, env });
  } catch (err) {
    await early?.dismiss();
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 1;
    return;
  }
  const logger = createLogger(loaded.config.log);
  reportConfig(logger, loaded);
  const workers = workerCount(loaded.config, logger);
  if (workers > 1) {
    await (early ?? startWorkers(0)).run(loaded.config, workers, logger);
    return;
  }
  await early?.dismiss();
  await serveInProcess(loaded.config, logger);
}

/** Serves in this process: alone, or as one worker of a cluster (`handed` by its primary). */
async function serveInProcess(config: Config, logger: Logger, handed?: HandedConfig): Promise<void> {
  // Signals are handled from before the server starts, so one that arrives while it starts (or
  // right after "ready" is printed) still ends in a graceful stop rather than a kill.
  let server: RunningServer | undefined;
  let closing = false;
  const stop = (running: RunningServer): void => {
    running.close().then(
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
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) {
      // A terminal's Ctrl-C reaches a worker as well as its primary, which then asks again:
      // only the primary decides to stop waiting.
      if (isClusterWorker()) return;
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    closing = true;
    logger.info({ signal }, 'shutting down');
    if (server !== undefined) stop(server);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);

  try {
    // Loaded here, not at the top, so `config check` and `--help` never load the HTTP stack.
    const { startServer } = await import('../http/server.js');
    const drain = config.http.draintimeout;
    server = await startServer(config, {
      logger,
      ...(drain === undefined ? {} : { drainTimeoutMs: drain }),
      // Only this machine's workers know a secret the primary made up.
      secretIsLocal: handed?.secretIsLocal === true,
    });
  } catch (err) {
    logger.error({ err }, 'failed to start');
    // A worker's channel to its primary would keep it alive; the primary sees the exit instead.
    if (isClusterWorker()) process.exit(1);
    process.exitCode = 1;
    process.off('SIGINT', shutdown);
    process.off('SIGTERM', shutdown);
    return;
  }
  if (closing) {
    stop(server);
    return;
  }
  logger.info({ url: server.url }, `ready at ${server.url}`);
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
