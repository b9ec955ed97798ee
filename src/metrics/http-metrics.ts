/**
 * Request metrics, named as registry:2's (`registry_http_*`, with its `handler` values: `base`,
 * `blob`, `blob-upload`, `blob-upload-chunk`, `catalog`, `manifest`, `tags`) so existing
 * dashboards keep working; Berth adds `referrers`, `root` (`GET /`), `auth` (the token endpoint),
 * `not-found`, and the number of uploads streaming right now.
 */
import { Counter, exponentialBuckets, Gauge, Histogram, type Registry } from 'prom-client';

/** What the dispatcher reports when a response is over. */
export interface RequestOutcome {
  /** The HTTP status sent. */
  status: number;
  /** Bytes received on the connection for this request, headers included. */
  bytesIn: number;
  /** Bytes written to the connection for this response, headers included. */
  bytesOut: number;
  /** Time from the request's arrival to the end of the response. */
  seconds: number;
}

/** Called by the dispatcher for every request. */
export interface RequestObserver {
  /**
   * Marks a request as in flight once its route is known (`kind` is a route kind, or `auth`).
   * @returns the function to call exactly once when the response is over.
   */
  begin(kind: string, method: string): (outcome: RequestOutcome) => void;
}

const HANDLERS: Readonly<Record<string, string>> = {
  base: 'base',
  catalog: 'catalog',
  tags: 'tags',
  manifest: 'manifest',
  blob: 'blob',
  'upload-start': 'blob-upload',
  upload: 'blob-upload-chunk',
  referrers: 'referrers',
  health: 'root',
  auth: 'auth',
};

// Label values come from a fixed set, so a client inventing methods cannot grow the series count.
const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const BODY_METHODS: ReadonlySet<string> = new Set(['post', 'put', 'patch']);

/** The `handler` label of a route kind. */
export function handlerLabel(kind: string): string {
  return HANDLERS[kind] ?? 'not-found';
}

function methodLabel(method: string): string {
  return METHODS.has(method) ? method.toLowerCase() : 'other';
}

/** Registers the request metrics in `registry` and returns the dispatcher's observer. */
export function createRequestMetrics(registry: Registry): RequestObserver {
  const registers = [registry];
  const requests = new Counter({
    name: 'registry_http_requests_total',
    help: 'Requests answered, by handler, method and status code.',
    labelNames: ['handler', 'method', 'code'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'registry_http_request_duration_seconds',
    help: 'Time from the arrival of a request to the end of its response.',
    labelNames: ['handler', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 300],
    registers,
  });
  // 1 KiB to 4 GiB, as registry:2's size buckets.
  const sizeBuckets = exponentialBuckets(1024, 4, 12);
  const requestSize = new Histogram({
    name: 'registry_http_request_size_bytes',
    help: 'Bytes received per request, headers included.',
    labelNames: ['handler'] as const,
    buckets: sizeBuckets,
    registers,
  });
  const responseSize = new Histogram({
    name: 'registry_http_response_size_bytes',
    help: 'Bytes sent per response, headers included.',
    labelNames: ['handler'] as const,
    buckets: sizeBuckets,
    registers,
  });
  const inFlight = new Gauge({
    name: 'registry_http_in_flight_requests',
    help: 'Requests being served.',
    labelNames: ['handler'] as const,
    registers,
  });
  const uploads = new Gauge({
    name: 'registry_uploads_in_flight',
    help: 'Upload requests (POST, PATCH, PUT of blob uploads) whose body is being received or committed.',
    registers,
  });

  return {
    begin(kind, method) {
      const handler = handlerLabel(kind);
      const verb = methodLabel(method);
      const upload = (kind === 'upload' || kind === 'upload-start') && BODY_METHODS.has(verb);
      const flying = inFlight.labels(handler);
      flying.inc();
      if (upload) uploads.inc();
      let ended = false;
      return (outcome) => {
        if (ended) return;
        ended = true;
        flying.dec();
        if (upload) uploads.dec();
        requests.labels(handler, verb, String(outcome.status)).inc();
        duration.labels(handler, verb).observe(outcome.seconds);
        requestSize.labels(handler).observe(outcome.bytesIn);
        responseSize.labels(handler).observe(outcome.bytesOut);
      };
    },
  };
}
