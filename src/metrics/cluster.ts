/**
 * The debug listener under `http.workers` > 1. Workers share the registry port, but a scrape or a
 * health probe landing on one random worker would see a fraction of the picture, so the primary
 * alone listens on `http.debug.addr` and asks every worker over the cluster IPC channel:
 *
 * - metrics through prom-client's AggregatorRegistry, which sums counters and histograms across
 *   workers (gauges by their declared aggregator: `registry_redis_up` takes the minimum…);
 * - health through Berth's own request/answer messages: the report is the union of the workers'
 *   failing checks, and a worker that does not answer within {@link WORKER_ANSWER_MS} is itself
 *   reported failing.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { type DebugServer, type HealthReport, normalizeMetricsPath, startDebugServer } from '../http/debug-server.js';
import type { Logger } from '../log/logger.js';
import { processRegistry } from './metrics.js';

export const WORKER_ANSWER_MS = 5_000;

const HEALTH_REQUEST = 'berth:health-request';
const HEALTH_ANSWER = 'berth:health-answer';

interface HealthRequest {
  type: typeof HEALTH_REQUEST;
  id: number;
}

interface HealthAnswer extends HealthReport {
  type: typeof HEALTH_ANSWER;
  id: number;
}

function isHealthAnswer(message: unknown, id: number): message is HealthAnswer {
  const m = message as Partial<HealthAnswer> | null;
  return typeof m === 'object' && m !== null && m.type === HEALTH_ANSWER && m.id === id;
}

/**
 * In a worker: answers the primary's metrics scrapes with `registry` (and the process metrics)
 * and its health requests with `health()`.
 * @returns a function that stops answering health requests.
 */
export function answerPrimary(registry: Registry | undefined, health: () => HealthReport): () => void {
  if (registry !== undefined) {
    AggregatorRegistry.setRegistries([processRegistry(), registry]);
    // Constructing one installs prom-client's listener for the primary's requests (once per process).
    new AggregatorRegistry();
  }
  const onMessage = (message: unknown): void => {
    const m = message as Partial<HealthRequest> | null;
    if (typeof m !== 'object' || m === null || m.type !== HEALTH_REQUEST || typeof m.id !== 'number') return;
    const answer: HealthAnswer = { type: HEALTH_ANSWER, id: m.id, ...health() };
    process.send?.(answer);
  };
  process.on('message', onMessage);
  return () => {
    process.off('message', onMessage);
  };
}

let nextRequest = 0;

/** In the primary: the union of every worker's health report. */
export function askWorkersHealth(timeoutMs = WORKER_ANSWER_MS): Promise<HealthReport> {
  const workers = Object.values(cluster.workers ?? {}).filter(
    (worker): worker is Worker => worker?.isConnected() === true,
  );
  if (workers.length === 0) return Promise.resolve({ failing: { workers: 'no worker is running' }, unhealthy: true });
  const id = nextRequest++;
  return new Promise((resolve) => {
    const answers = new Map<Worker, HealthAnswer>();
    const onMessage = (worker: Worker, message: unknown): void => {
      if (!isHealthAnswer(message, id)) return;
      answers.set(worker, message);
      if (answers.size === workers.length) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    function finish(): void {
      clearTimeout(timer);
      cluster.off('message', onMessage);
      const report: HealthReport = { failing: {}, unhealthy: false };
      for (const worker of workers) {
        const answer = answers.get(worker);
        if (answer === undefined) {
          report.failing[`worker ${worker.process.pid}`] = `no health answer within ${timeoutMs}ms`;
          report.unhealthy = true;
          continue;
        }
        for (const [name, error] of Object.entries(answer.failing)) report.failing[name] ??= error;
        report.unhealthy ||= answer.unhealthy;
      }
      resolve(report);
    }
    cluster.on('message', onMessage);
    const request: HealthRequest = { type: HEALTH_REQUEST, id };
    for (const worker of workers) {
      try {
        worker.send(request);
      } catch {
        // A worker that died since the list was taken is reported as not answering.
      }
    }
  });
}

/**
 * In the primary: listens on `http.debug.addr` with aggregated metrics and health.
 * @returns undefined when no debug address is configured.
 * @throws Error when the address cannot be bound.
 */
export async function startPrimaryDebugServer(config: Config, logger: Logger): Promise<DebugServer | undefined> {
  const debug = config.http.debug;
  if (debug?.addr === undefined || debug.addr === '') return undefined;
  const aggregator = debug.prometheus?.enabled === true ? new AggregatorRegistry() : undefined;
  return startDebugServer({
    addr: debug.addr,
    logger,
    health: () => askWorkersHealth(),
    metrics:
      aggregator === undefined
        ? undefined
        : {
            path: normalizeMetricsPath(debug.prometheus?.path),
            async render() {
              return { contentType: aggregator.contentType, body: await aggregator.clusterMetrics() };
            },
          },
  });
}
