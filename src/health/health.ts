/**
 * Periodic health checks with distribution's semantics: each check runs every `interval`; it is
 * reported failing once `threshold` runs in a row have failed, and healthy again after one success.
 * The report is distribution's `CheckStatus()`: a map of failing check name → error message.
 *
 * Unlike registry:2, whose checks first run one interval after start (so a registry starts
 * "healthy" whatever the state), every check runs once at start. A run that outlasts its timeout
 * counts as a failure, and a check never overlaps itself: the next run is scheduled after the
 * previous one settled.
 */
import type { Logger } from 'pino';
import type { Check } from './checks.js';

export interface CheckSpec {
  /** The name `/debug/health` reports (distribution's: the file, URI, address, `storagedriver_<name>`). */
  name: string;
  check: Check;
  /** Time between the end of one run and the start of the next (ms). */
  intervalMs: number;
  /** Consecutive failures before the check is reported failing; 0 and 1 both mean "at once". */
  threshold: number;
  /** A run taking longer than this fails (ms). */
  timeoutMs: number;
  /**
   * Whether a failure makes the registry unavailable (503 on every request). Non-critical checks
   * are only reported: Berth serves correctly without them (Redis, which it falls back from).
   */
  critical: boolean;
}

export interface HealthRegistry {
  /** The failing checks, name → error message; `{}` when all pass (distribution's report). */
  status(): Record<string, string>;
  /** Whether any critical check is failing: the registry then answers 503 to every request. */
  unhealthy(): boolean;
  /** Names of the configured checks, in configuration order. */
  names(): string[];
  /** Runs every check now and schedules the next runs; idempotent. */
  start(): void;
  /** Stops scheduling; a run in flight is aborted. Idempotent. */
  stop(): void;
}

interface CheckState {
  spec: CheckSpec;
  failures: number;
  lastError: string | undefined;
  timer: NodeJS.Timeout | undefined;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Rejects when `signal` aborts, so a check that ignores its signal cannot hang the schedule. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

export function createHealthRegistry(specs: readonly CheckSpec[], logger: Logger): HealthRegistry {
  const names = new Set<string>();
  for (const spec of specs) {
    if (names.has(spec.name)) throw new Error(`health: two checks are named ${JSON.stringify(spec.name)}`);
    names.add(spec.name);
  }
  const states: CheckState[] = specs.map((spec) => ({ spec, failures: 0, lastError: undefined, timer: undefined }));
  const stopping = new AbortController();
  let started = false;

  const failing = (state: CheckState): boolean =>
    state.lastError !== undefined && state.failures >= Math.max(1, state.spec.threshold);

  async function check(state: CheckState): Promise<void> {
    const { spec } = state;
    const wasFailing = failing(state);
    // One controller per run, released when it settles, so nothing accumulates on long-lived signals.
    const run = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      run.abort(new Error(`timed out after ${spec.timeoutMs}ms`));
    }, spec.timeoutMs);
    const onStop = (): void => run.abort(stopping.signal.reason);
    stopping.signal.addEventListener('abort', onStop, { once: true });
    try {
      await Promise.race([spec.check(run.signal), aborted(run.signal)]);
      state.failures = 0;
      state.lastError = undefined;
    } catch (error) {
      if (stopping.signal.aborted) return;
      state.failures = Math.min(state.failures + 1, Math.max(1, spec.threshold));
      state.lastError = timedOut ? `timed out after ${spec.timeoutMs}ms` : message(error);
    } finally {
      clearTimeout(timer);
      stopping.signal.removeEventListener('abort', onStop);
    }
    const nowFailing = failing(state);
    if (nowFailing && !wasFailing) logger.warn({ check: spec.name, error: state.lastError }, 'health check failing');
    if (!nowFailing && wasFailing) logger.info({ check: spec.name }, 'health check passing again');
  }

  function schedule(state: CheckState, delay: number): void {
    if (stopping.signal.aborted) return;
    state.timer = setTimeout(() => {
      void check(state).finally(() => schedule(state, state.spec.intervalMs));
    }, delay);
    state.timer.unref();
  }

  return {
    status() {
      const report: Record<string, string> = {};
      for (const state of states) if (failing(state)) report[state.spec.name] = state.lastError ?? '';
      return report;
    },
    unhealthy() {
      for (const state of states) if (state.spec.critical && failing(state)) return true;
      return false;
    },
    names: () => specs.map((spec) => spec.name),
    start() {
      if (started || stopping.signal.aborted) return;
      started = true;
      for (const state of states) schedule(state, 0);
    },
    stop() {
      stopping.abort();
      for (const state of states) clearTimeout(state.timer);
    },
  };
}
