/**
 * A background task run every `intervalMs` (counted from the end of one run to the start of the
 * next, so runs never overlap), the first time after `firstDelayMs`. Timers are unref'd: they
 * never keep the process alive by themselves.
 */
export interface PeriodicTask {
  /** Cancels the next run and aborts (then awaits) the one in progress; idempotent. */
  stop(): Promise<void>;
}

export interface PeriodicOptions {
  intervalMs: number;
  firstDelayMs: number;
  /** Must handle (log) its own failures; a rejection is swallowed so the schedule goes on. */
  run(signal: AbortSignal): Promise<void>;
}

/** Distribution waits a random time before the first purge, so replicas started together spread out. */
export function randomJitter(maxMs: number): number {
  return Math.floor(Math.random() * Math.max(0, maxMs));
}

export function startPeriodic(options: PeriodicOptions): PeriodicTask {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const schedule = (delayMs: number): void => {
    timer = setTimeout(tick, Math.max(0, delayMs));
    timer.unref();
  };
  function tick(): void {
    running = options
      .run(controller.signal)
      .catch(() => {})
      .finally(() => {
        running = undefined;
        if (!stopped) schedule(options.intervalMs);
      });
  }
  schedule(options.firstDelayMs);

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      controller.abort(new Error('maintenance stopped'));
      await running;
    },
  };
}
