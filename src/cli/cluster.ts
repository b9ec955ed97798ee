/**
 * `http.workers` (a Berth extension): `berth serve` as a node:cluster primary running that many
 * worker processes on one port, since one Node process uses one core. Workers share nothing but
 * storage and Redis — exactly what replicas on different machines share — so uploads, caches and
 * deletes behave the same within a machine as across machines:
 *
 * - The primary forks its first workers before it reads and checks the configuration (see
 *   {@link earlyWorkerCount}), and the rest once one of them listens; each worker gets the
 *   configuration, validated, over the cluster's IPC channel ({@link receiveHandedConfig}), so
 *   only the primary loads yaml and the schema, and no secret travels in an environment.
 * - Without `http.secret` the primary makes up one secret and hands it to its workers, so an
 *   upload's requests may land on any worker; it still warns that replicas on other machines need
 *   a configured one. It also tells them the secret is this machine's own, so they keep the native
 *   sha256 for uploads (see shared-state.ts).
 * - A worker that dies is replaced (with a growing delay when it keeps dying young); one that dies
 *   before any worker ever listened means the configuration cannot serve, and the primary exits 1.
 * - SIGTERM/SIGINT: each worker drains its connections (`http.draintimeout`) and exits; the
 *   primary exits 0 once all have. A second signal kills the workers at once and exits 1.
 *
 * The default is one worker per CPU; `storage: inmemory` always runs one process (each worker
 * would have its own private store). Tests and `startTestServer` never go through here.
 */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { configFilePath } from '../config/default.js';
import type { Config } from '../config/schema.js';
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

/**
 * Whether the configuration file's text plainly asks for one process (`workers: 1`, or the
 * inmemory driver), read without parsing it: yaml and the schema are what the early workers overlap.
 * Only a hint for the guess below — the checked configuration decides — so other spellings (flow
 * style, quotes) just cost the early worker's start, and an unreadable file is the check's to report.
 */
function fileAsksForOneProcess(file: string | undefined): boolean {
  if (file === undefined) return false;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  return /^\s+workers:\s*1\s*(#.*)?$/m.test(text) || /^(storage:\s*inmemory|\s+inmemory:)/m.test(text);
}

/**
 * How many workers to fork before the configuration is read ({@link startWorkers}); 0 when
 * REGISTRY_HTTP_WORKERS, REGISTRY_STORAGE or the file's text already say that one process serves,
 * or the machine has one CPU. Only as many as leave a core to the primary, which meanwhile reads
 * and checks the configuration: on the 2-core test machine, one worker and the primary each take
 * about 0.3 s of CPU to get there, and a second worker started as well slowed both (first answer
 * 0.62–0.74 s, as against 0.65–0.69 s forking after the check). The rest are forked once the
 * first worker listens. A configuration that then asks for one process after all stops the
 * early worker, which cost the CPU of its start: in the benchmark, with `workers: 1` in the file
 * and no hint, one process took 0.51–0.70 s to answer instead of 0.4–0.5 s.
 */
export function earlyWorkerCount(env: NodeJS.ProcessEnv, configPath?: string): number {
  if (env['REGISTRY_STORAGE'] === 'inmemory') return 0;
  const explicit = env['REGISTRY_HTTP_WORKERS'];
  const cpus = availableParallelism();
  const wanted = explicit === undefined ? cpus : Number(explicit);
  if (!Number.isInteger(wanted) || wanted <= 1) return 0;
  if (explicit === undefined && fileAsksForOneProcess(configFilePath(configPath, env))) return 0;
  return Math.min(wanted, cpus - 1);
}

/**
 * In a primary, forks {@link earlyWorkerCount} workers; undefined in a worker, or when none are
 * forked early. main.ts calls it before it loads the rest of `serve` (the logger, the
 * configuration), so the workers start that much sooner.
 */
export function forkEarlyWorkers(env: NodeJS.ProcessEnv, configPath?: string): WorkerPool | undefined {
  if (cluster.isWorker) return undefined;
  const count = earlyWorkerCount(env, configPath);
  return count > 0 ? startWorkers(count) : undefined;
}

/** Whether this process is a worker started by {@link startWorkers}. */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** What a worker asks its primary for once it runs, and gets as soon as the primary has it. */
interface ConfigRequest {
  berth: 'config-request';
}
/** The primary's validated configuration, with the secret it may have made up. */
export interface HandedConfig {
  berth: 'config';
  config: Config;
  /** The primary made up `config.http.secret`: only this machine's workers share it (see shared-state.ts). */
  secretIsLocal: boolean;
}

function isMessage<T extends { berth: string }>(message: unknown, kind: T['berth']): message is T {
  return typeof message === 'object' && message !== null && (message as { berth?: unknown }).berth === kind;
}

/**
 * Worker side: the configuration the primary validated, asked for over the cluster's IPC channel.
 * Workers are forked before the primary has read its configuration (see {@link startWorkers}), so
 * they ask once they run rather than find it in their environment; a message sent before the
 * worker listened would be lost. If the primary goes away first, node:cluster ends the worker.
 */
export function receiveHandedConfig(): Promise<HandedConfig> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown): void => {
      if (!isMessage<HandedConfig>(message, 'config')) return;
      process.off('message', onMessage);
      resolve(message);
    };
    process.on('message', onMessage);
    const request: ConfigRequest = { berth: 'config-request' };
    process.send?.(request);
  });
}

const YOUNG_DEATH_MS = 10_000;
const MAX_RESTART_DELAY_MS = 30_000;
const FORCE_KILL_GRACE_MS = 5_000;

/** The workers of a primary, forked before it knows its configuration. */
export interface WorkerPool {
  /**
   * Hands `config` to the workers (present ones and any forked later), forks or stops workers
   * until there are `workers`, and keeps them running until a signal. Resolves when the cluster
   * has stopped; sets `process.exitCode`.
   */
  run(config: Config, workers: number, logger: Logger): Promise<void>;
  /** Kills every worker and waits for their exit: the configuration is invalid or asks for one process. */
  dismiss(): Promise<void>;
}

/**
 * Forks `count` workers at once. They start Node and load the server while the primary reads
 * and checks the configuration, instead of after it: on the 2-core test machine each of those is
 * about a third of a second. The workers wait for {@link WorkerPool.run} to hand them the
 * configuration.
 */
export function startWorkers(count: number): WorkerPool {
  let handed: HandedConfig | undefined;
  const waiting = new Set<Worker>();
  const started = new Map<Worker, number>();
  /** Set by run(): what a worker's exit means from then on. */
  let onExit: ((worker: Worker, bornAt: number, code: number | null, signal: string | null) => void) | undefined;

  const fork = (): void => {
    const worker = cluster.fork();
    started.set(worker, Date.now());
  };
  const onMessage = (worker: Worker, message: unknown): void => {
    if (!isMessage<ConfigRequest>(message, 'config-request')) return;
    if (handed === undefined) waiting.add(worker);
    else worker.send(handed);
  };
  const onWorkerExit = (worker: Worker, code: number | null, signal: string | null): void => {
    waiting.delete(worker);
    const bornAt = started.get(worker);
    // Workers stopped on purpose (dismissed, or more than the configuration wants) are no deaths.
    if (bornAt === undefined) return;
    started.delete(worker);
    onExit?.(worker, bornAt, code, signal);
  };
  cluster.on('message', onMessage);
  cluster.on('exit', onWorkerExit);

  /** Kills `workers` and resolves once all have exited. */
  const kill = async (workers: Worker[]): Promise<void> => {
    const exits = workers.map((worker) => {
      started.delete(worker);
      waiting.delete(worker);
      return worker.isDead() ? undefined : new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    });
    // Nothing of theirs is worth a graceful stop: they never got a configuration to serve with.
    for (const worker of workers) worker.process.kill('SIGKILL');
    await Promise.all(exits);
  };
  const detach = (): void => {
    cluster.off('message', onMessage);
    cluster.off('exit', onWorkerExit);
  };

  const dismiss = async (): Promise<void> => {
    await kill([...started.keys()]);
    detach();
  };

  for (let i = 0; i < count; i++) fork();

  return {
    dismiss,

    async run(config, workers, logger) {
      // The primary alone listens on http.debug.addr and asks its workers (see metrics/cluster.ts).
      let debug: { close(): Promise<void> } | undefined;
      if (config.http.debug?.addr) {
        try {
          const { startPrimaryDebugServer } = await import('../metrics/cluster.js');
          debug = await startPrimaryDebugServer(config, logger);
        } catch (err) {
          logger.error({ err }, 'failed to start the debug server');
          await dismiss();
          process.exitCode = 1;
          return;
        }
      }
      let secretIsLocal = false;
      let secret = config.http.secret;
      if (secret === undefined || secret === '') {
        // Loaded here: node:crypto and the upload module would delay the early fork in main.ts.
        const { generateSecret } = await import('../http/upload-state.js');
        secret = generateSecret();
        secretIsLocal = true;
        logger.warn(
          'No HTTP secret provided (http.secret / REGISTRY_HTTP_SECRET) - generated one for the workers of this ' +
            'process. Replicas on other machines behind the same load balancer need one shared http.secret.',
        );
      }
      const message: HandedConfig = {
        berth: 'config',
        config: { ...config, http: { ...config.http, secret } },
        secretIsLocal,
      };
      handed = message;
      for (const worker of waiting) worker.send(message);
      waiting.clear();

      let stopping = false;
      let everListening = false;
      let restartDelay = 0;
      const extra = [...started.keys()].slice(workers);
      if (extra.length > 0) await kill(extra);
      // The rest start once a worker listens: started alongside it, they took the CPU it needed to
      // get there (first answer 0.48–0.61 s against 0.47–0.50 s deferred, on the 2-core test machine).
      const forkTheRest = (): void => {
        while (started.size < workers) fork();
      };
      if (started.size === 0) forkTheRest();

      let finish = (): void => {};
      const done = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const onListening = (worker: Worker, address: { port: number }): void => {
        if (!everListening) {
          logger.info({ workers, port: address.port }, `serving with ${workers} workers`);
          everListening = true;
          if (!stopping) forkTheRest();
        }
        logger.debug({ pid: worker.process.pid }, 'worker listening');
      };
      cluster.on('listening', onListening);
      onExit = (worker, bornAt, code, signal) => {
        if (stopping) {
          if (started.size === 0) finish();
          return;
        }
        logger.error({ pid: worker.process.pid, code, signal }, 'worker died');
        if (!everListening) {
          logger.error('a worker exited before any worker could serve: stopping');
          process.exitCode = 1;
          stop('SIGTERM');
          if (started.size === 0) finish();
          return;
        }
        // A worker that keeps dying young is restarted ever more slowly, never given up on.
        restartDelay =
          Date.now() - bornAt < YOUNG_DEATH_MS ? Math.min(MAX_RESTART_DELAY_MS, restartDelay * 2 || 500) : 0;
        const timer = setTimeout(() => {
          if (!stopping) fork();
        }, restartDelay);
        timer.unref();
      };

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

      await done;
      await debug?.close();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      cluster.off('listening', onListening);
      detach();
      logger.info('stopped');
      process.exitCode ??= 0;
    },
  };
}
