/**
 * Logs failed logins (user name and remote address, never the password) and counts them per
 * address, so a brute-force attempt shows up as one loud warning rather than a stream of quiet
 * lines. The counter is bounded (least-recently-seen addresses are forgotten first) and each
 * address's count restarts after a quiet window.
 */
import type { Logger } from 'pino';
import { createLruMap } from '../registry/lru.js';

export interface FailureTracker {
  /** Records one failed authentication from `remoteAddress` (as `user`, when one was given). */
  record(user: string | undefined, remoteAddress: string | undefined, reason: string): void;
}

export interface FailureTrackerOptions {
  logger: Logger;
  /** Failures from one address within the window that trigger the brute-force warning; default 10. */
  threshold?: number;
  /** The window (ms); default 10 minutes. */
  windowMs?: number;
  /** Most addresses remembered; default 10 000. */
  maxAddresses?: number;
}

interface Counter {
  count: number;
  since: number;
}

/** Attacker-controlled text goes into logs cut short. */
function clip(text: string | undefined): string | undefined {
  return text === undefined || text.length <= 128 ? text : `${text.slice(0, 128)}…`;
}

export function createFailureTracker(options: FailureTrackerOptions): FailureTracker {
  const { logger } = options;
  const threshold = options.threshold ?? 10;
  const windowMs = options.windowMs ?? 10 * 60_000;
  const counters = createLruMap<string, Counter>(options.maxAddresses ?? 10_000);
  return {
    record(user, remoteAddress, reason) {
      const address = remoteAddress ?? 'unknown';
      const now = Date.now();
      let counter = counters.get(address);
      if (counter === undefined || now - counter.since > windowMs) counter = { count: 0, since: now };
      counter.count++;
      counters.set(address, counter);
      logger.warn({ user: clip(user), remoteAddr: address, reason }, 'authentication failed');
      // Warn at the threshold and at every tenfold after it, so a long attack stays visible without flooding.
      let mark = threshold;
      while (mark < counter.count) mark *= 10;
      if (counter.count === mark) {
        logger.warn(
          { remoteAddr: address, failures: counter.count, windowSeconds: Math.round((now - counter.since) / 1000) },
          'repeated authentication failures from one address: possible brute-force attempt',
        );
      }
    },
  };
}
