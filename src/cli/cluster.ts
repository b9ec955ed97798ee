/**
 * `http.workers` (a Berth extension): `berth serve` as a node:cluster primary running that many
 * worker processes on one port, since one Node process uses one core. Workers share nothing but
 * storage and Redis — exactly what replicas on different machines share — so uploads, caches and
 * deletes behave the same within a machine as across machines:
 *
 * - Without `http.secret` the primary makes up one secret and hands it to its workers (through
 *   `REGISTRY_HTTP_SECRET`), so an upload's requests may land on any worker; it still warns that
 *   replicas on other machines need a configured one. It also tells them the secret is this
 *   machine's own ({@link GENERATED_SECRET_ENV}), so they keep the native sha256 for uploads (see
 *   shared-state.ts).
 * - A worker that dies is replaced (with a growing delay when it keeps dying young); one that dies
 *   before any worker ever listened means the configuration cannot serve, and the primary exits 1.
 * - SIGTERM/SIGINT: each worker drains its connections (`http.draintimeout`) and exits; the
 *   primary exits 0 once all have. A second signal kills the workers at once and exits 1.
 *
 * The default is one worker per CPU; `storage: inmemory` always runs one process (each worker
 * would have its own private store). Tests and `startTestServer` never go through here.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { generateSecret } from '../http/upload-state.js';
import type { Logger } from '../log/logger.js';

/** How many workers `config` asks for (1 means: no cluster, serve in this process). */
export function workerCount(config: Config, logger: Logger): number {
  const wanted = config.http.workers ?? availableParallelism();
  if (config.storage.inmemory !== undefined && wanted > 1) {
    if (config.http.workers !== undefined) {
      logger.warn(
        { workers: wanted },
        'http.workers: storage.inmemory is private to one process, so berth serves with a single process',
      );
    }
    return 1;
  }
  return Math.max(1, wanted);
}

/** Set to `1` in the environment of workers whose `http.secret` the primary made up. */
export const GENERATED_SECRET_ENV = 'BERTH_CLUSTER_GENERATED_SECRET';

/** Whether this process is a worker started by {@link runPrimary}. */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/**
 * The environment variable carrying the primary's validated configuration (JSON) to its workers.
 * A worker that finds it skips reading YAML and checking the schema, which would load yaml and
 * zod (a quarter of its start-up) only to reach the same configuration. It holds what the file
 * and REGISTRY_* variables hold, secrets included, like the REGISTRY_HTTP_SECRET handed the same way.
 */
export const WORKER_CONFIG_ENV = 'BERTH_WORKER_CONFIG';
/** Far below Linux's 128 KiB limit on one environment string; a larger configuration is re-read. */
const MAX_HANDED_CONFIG_CHARS = 64 * 1024;

/**
 * The configuration handed down by the primary, when this process is a worker that got one.
 * Removes it from `env`, so nothing this process starts inherits it.
 */
export function takeHandedConfig(env: NodeJS.ProcessEnv): LoadedConfig | undefined {
  const json = env[WORKER_CONFIG_ENV];
  delete env[WORKER_CONFIG_ENV];
  if (!cluster.isWorker || json === undefined) return undefined;
  return { config: JSON.parse(json) as Config, warnings: [], notSupportedYet: [], source: 'the primary' };
}

const YOUNG_DEATH_MS = 10_000;
const MAX_RESTART_DELAY_MS = 30_000;
const FORCE_KILL_GRACE_MS = 5_000;

/**
 * Runs the primary: forks `workers` copies of this command and keeps them running until a signal.
 * Resolves when the cluster has stopped; sets `process.exitCode`.
 */
export async function runPrimary(config: Config, workers: number, logger: Logger): Promise<void> {
  // The primary alone listens on http.debug.addr and asks its workers (see metrics/cluster.ts).
  let debug: { close(): Promise<void> } | undefined;
  if (config.http.debug?.addr) {
    try {
      const { startPrimaryDebugServer } = await import('../metrics/cluster.js');
      debug = await startPrimaryDebugServer(config, logger);
    } catch (err) {
      logger.error({ err }, 'failed to start the debug server');
      process.exitCode = 1;
      return;
    }
  }
  const env: Record<string, string> = {};
  if (config.http.secret === undefined || config.http.secret === '') {
    env['REGISTRY_HTTP_SECRET'] = generateSecret();
    env[GENERATED_SECRET_ENV] = '1';
    logger.warn(
      'No HTTP secret provided (http.secret / REGISTRY_HTTP_SECRET) - generated one for the workers of this ' +
        'process. Replicas on other machines behind the same load balancer need one shared http.secret.',
    );
  }
  const handed = JSON.stringify(
    env['REGISTRY_HTTP_SECRET'] === undefined
      ? config
      : { ...config, http: { ...config.http, secret: env['REGISTRY_HTTP_SECRET'] } },
  );
  if (handed.length <= MAX_HANDED_CONFIG_CHARS) env[WORKER_CONFIG_ENV] = handed;
  let stopping = false;
  let everListening = false;
  let restartDelay = 0;
  const started = new Map<Worker, number>();

  const fork = (): void => {
    const worker = cluster.fork(env);
    started.set(worker, Date.now());
  };

  let finish = (): void => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
    cluster.on('listening', (worker, address) => {
      if (!everListening) logger.info({ workers, port: address.port }, `serving with ${workers} workers`);
      everListening = true;
      logger.debug({ pid: worker.process.pid }, 'worker listening');
    });

    cluster.on('exit', (worker, code, signal) => {
      const bornAt = started.get(worker) ?? 0;
      started.delete(worker);
      if (stopping) {
        if (started.size === 0) resolve();
        return;
      }
      logger.error({ pid: worker.process.pid, code, signal }, 'worker died');
      if (!everListening) {
        logger.error('a worker exited before any worker could serve: stopping');
        process.exitCode = 1;
        stop('SIGTERM');
        if (started.size === 0) resolve();
        return;
      }
      // A worker that keeps dying young is restarted ever more slowly, never given up on.
      restartDelay = Date.now() - bornAt < YOUNG_DEATH_MS ? Math.min(MAX_RESTART_DELAY_MS, restartDelay * 2 || 500) : 0;
      const timer = setTimeout(() => {
        if (!stopping) fork();
      }, restartDelay);
      timer.unref();
    });
  });

  function stop(signal: NodeJS.Signals): void {
    stopping = true;
    for (const worker of started.keys()) worker.process.kill(signal);
  }

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: killing the workers');
      for (const worker of started.keys()) worker.process.kill('SIGKILL');
      process.exit(1);
    }
    logger.info({ signal }, 'shutting down the workers');
    stop('SIGTERM');
    if (started.size === 0) finish();
    // Workers drain within http.draintimeout; one that hangs past it is killed.
    const grace = (config.http.draintimeout ?? 30_000) + FORCE_KILL_GRACE_MS;
    setTimeout(() => {
      for (const worker of started.keys()) worker.process.kill('SIGKILL');
    }, grace).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  for (let i = 0; i < workers; i++) fork();
  await done;
  await debug?.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  logger.info('stopped');
  process.exitCode ??= 0;
}
