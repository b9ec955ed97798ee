/**
 * One notification endpoint: its ignore rules, its durable queue and the loop that POSTs queued
 * events to it, one event per envelope, in queue order, at least once.
 *
 * Retries (distribution's retrying sink, without its tight loop): a failed delivery is retried
 * after a delay that doubles from {@link FIRST_RETRY_MS} up to `backoff`; after `threshold`
 * failures in a row the endpoint is marked failing and probed every `backoff` with the oldest
 * event until it answers again. A 2xx or 3xx answer is a success, as in registry:2.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import type { Event } from './event.js';
import { EVENTS_MEDIA_TYPE } from './event.js';
import type { DurableQueue } from './queue.js';

export const FIRST_RETRY_MS = 50;

export interface EndpointSettings {
  /** `name`: identifies the endpoint in logs, metrics and its queue directory. */
  name: string;
  /** `url`: where envelopes are POSTed (http or https). */
  url: URL;
  /** `headers`: added to every POST. */
  headers: Record<string, string[]>;
  /** `timeout`: how long one POST may take (ms). */
  timeoutMs: number;
  /** `threshold`: failures in a row before the endpoint is marked failing. */
  threshold: number;
  /** `backoff`: the longest wait between attempts, and the probe interval while failing (ms). */
  backoffMs: number;
  /** `ignoredmediatypes` and `ignore.mediatypes`: events whose target has one of these are dropped. */
  ignoredMediaTypes: ReadonlySet<string>;
  /** `ignore.actions`: events with one of these actions are dropped. */
  ignoredActions: ReadonlySet<string>;
}

export type EndpointState = 'ok' | 'failing';

/** Counters of one endpoint since start (pending counts adopted events too). */
export interface EndpointStats {
  name: string;
  /** The endpoint URL without any credentials it contains. */
  url: string;
  /** `failing` after `threshold` failed deliveries in a row, until one succeeds. */
  state: EndpointState;
  /** Events accepted into the queue (after the ignore rules). */
  events: number;
  /** Events delivered. */
  successes: number;
  /** Failed delivery attempts (each retry of the same event counts). */
  failures: number;
  /** Events waiting to be delivered. */
  pending: number;
  /** Failed attempts since the last success. */
  consecutiveFailures: number;
  /** Answers by HTTP status code (`"200"`, `"503"`…); connection errors and timeouts are not here. */
  statuses: Record<string, number>;
  /** Why the last attempt failed, when it did. */
  lastError?: string;
}

export interface Endpoint {
  readonly name: string;
  /** Whether the ignore rules let the event through. */
  accepts(event: Event): boolean;
  /** Queues an event (see DurableQueue.push). Never rejects. */
  enqueue(event: Event): Promise<boolean>;
  /** Takes over an event file of a dead instance's queue (see DurableQueue.adopt). */
  adopt(path: string): Promise<boolean>;
  /** Starts delivering; idempotent. */
  start(): void;
  stats(): EndpointStats;
  /**
   * Stops delivering: an attempt in flight finishes (bounded by `timeout`), waits are cut short,
   * and every queued event's file is written before this resolves.
   */
  close(): Promise<void>;
}

/** POSTs `body`; resolves with the status code once the answer's head arrives. */
function post(settings: EndpointSettings, agent: HttpAgent, body: Buffer): Promise<number> {
  const { url } = settings;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<number>((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        agent,
        signal: AbortSignal.timeout(settings.timeoutMs),
        headers: {
          'Content-Type': EVENTS_MEDIA_TYPE,
          ...settings.headers,
          'Content-Length': body.length,
        },
      },
      (res) => {
        res.on('error', () => undefined);
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', (error) => {
      reject(error.name === 'AbortError' ? new Error(`no answer within ${settings.timeoutMs} ms`) : error);
    });
    req.end(body);
  });
}

export function createEndpoint(settings: EndpointSettings, queue: DurableQueue, logger: Logger): Endpoint {
  const log = logger.child({ endpoint: settings.name });
  const agent =
    settings.url.protocol === 'https:' ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  // Credentials in the URL stay out of metrics labels.
  const shownUrl = new URL(settings.url.href);
  shownUrl.username = '';
  shownUrl.password = '';
  const counters = { events: 0, successes: 0, failures: 0, consecutiveFailures: 0 };
  const statuses: Record<string, number> = {};
  let state: EndpointState = 'ok';
  let lastError: string | undefined;
  let closed = false;
  let loop: Promise<void> | undefined;
  // Ends the current wait early: close() always does; a new event only ends an idle wait, so a
  // stream of new events cannot turn the retry delay into a tight loop.
  let wake: (() => void) | undefined;
  let idle = false;
  queue.onAppend(() => {
    if (idle) wake?.();
  });

  /** Waits `ms`, or until woken when `ms` is undefined (idle). */
  function pause(ms: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      idle = ms === undefined;
      function done(): void {
        if (timer !== undefined) clearTimeout(timer);
        wake = undefined;
        idle = false;
        resolve();
      }
      wake = done;
    });
  }

  function failed(reason: string): number {
    counters.failures += 1;
    counters.consecutiveFailures += 1;
    lastError = reason;
    const n = counters.consecutiveFailures;
    if (n >= settings.threshold) {
      if (state === 'ok') {
        state = 'failing';
        log.warn({ failures: n, error: reason, backoffMs: settings.backoffMs }, 'notification endpoint is failing');
      }
      return settings.backoffMs;
    }
    log.debug({ failures: n, error: reason }, 'notification delivery failed; retrying');
    return Math.min(settings.backoffMs, FIRST_RETRY_MS * 2 ** (n - 1));
  }

  async function deliver(): Promise<void> {
    while (!closed) {
      let event: Event | undefined;
      try {
        event = await queue.head();
      } catch (error) {
        log.error({ err: error }, 'could not read a queued notification event; retrying');
        await pause(settings.backoffMs);
        continue;
      }
      if (event === undefined) {
        // Checked again after arming the wake-up, so an event queued meanwhile is not missed.
        const waiting = pause(undefined);
        if (queue.length > 0 || closed) wake?.();
        await waiting;
        continue;
      }
      let delay: number;
      try {
        const status = await post(settings, agent, Buffer.from(JSON.stringify({ events: [event] })));
        statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
        if (status >= 200 && status < 400) {
          counters.successes += 1;
          counters.consecutiveFailures = 0;
          lastError = undefined;
          if (state === 'failing') {
            state = 'ok';
            log.info('notification endpoint is delivering again');
          }
          await queue.shift();
          continue;
        }
        delay = failed(`HTTP ${status}`);
      } catch (error) {
        delay = failed(error instanceof Error ? error.message : String(error));
      }
      if (!closed) await pause(delay);
    }
  }

  return {
    name: settings.name,

    accepts(event) {
      return !settings.ignoredActions.has(event.action) && !settings.ignoredMediaTypes.has(event.target.mediaType);
    },

    enqueue(event) {
      counters.events += 1;
      return queue.push(event);
    },

    adopt(path) {
      return queue.adopt(path);
    },

    start() {
      loop ??= deliver().catch((error: unknown) => {
        log.error({ err: error }, 'notification delivery stopped');
      });
    },

    stats() {
      return {
        name: settings.name,
        url: shownUrl.href,
        state,
        ...counters,
        pending: queue.length,
        statuses: { ...statuses },
        ...(lastError === undefined ? {} : { lastError }),
      };
    },

    async close() {
      closed = true;
      wake?.();
      await loop;
      await queue.settle();
      agent.destroy();
    },
  };
}
