/**
 * A real webhook receiver for the notification tests: records every envelope it accepts, and can
 * be told to fail (HTTP 500), to hang (never answer), or be stopped and restarted on the same port
 * (an endpoint that is down).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Envelope, Event } from '../../src/notify/event.js';

export type SinkMode = 'ok' | 'fail' | 'hang';

export interface ReceivedEnvelope {
  headers: IncomingHttpHeaders;
  envelope: Envelope;
}

export interface Sink {
  /** `http://127.0.0.1:<port>/events` */
  readonly url: string;
  /** How the next requests are answered. */
  mode: SinkMode;
  /** Envelopes answered 200, in arrival order. */
  readonly received: ReceivedEnvelope[];
  /** When each request arrived (performance.now()), answered or not. */
  readonly attempts: number[];
  /** The events of every accepted envelope, in order. */
  events(): Event[];
  /** Resolves with the first `n` accepted events; rejects after `timeoutMs` with what arrived. */
  waitForEvents(n: number, timeoutMs?: number): Promise<Event[]>;
  /** Resolves once `n` requests arrived (accepted or not). */
  waitForAttempts(n: number, timeoutMs?: number): Promise<void>;
  /** Stops listening and cuts every connection: the endpoint is down. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Polls `check` every 10 ms; fails the test after `timeoutMs` with `what()`. */
export async function until(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function startSink(): Promise<Sink> {
  const received: ReceivedEnvelope[] = [];
  const attempts: number[] = [];
  const hung = new Set<ServerResponse>();
  let port = 0;
  let listening = false;

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    attempts.push(performance.now());
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (sink.mode === 'hang') {
        hung.add(res);
        res.on('close', () => hung.delete(res));
        return;
      }
      if (sink.mode === 'fail') {
        res.writeHead(500).end('down for maintenance');
        return;
      }
      received.push({ headers: req.headers, envelope: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Envelope });
      res.writeHead(200).end();
    });
  };
  let server = createServer(handler);

  async function listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    port = (server.address() as AddressInfo).port;
    listening = true;
  }

  async function stop(): Promise<void> {
    if (!listening) return;
    listening = false;
    for (const res of hung) res.destroy();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  await listen();
  const sink: Sink = {
    url: `http://127.0.0.1:${port}/events`,
    mode: 'ok',
    received,
    attempts,
    events: () => received.flatMap((r) => r.envelope.events),
    async waitForEvents(n, timeoutMs = 10_000) {
      await until(
        () => sink.events().length >= n,
        timeoutMs,
        () => `${n} events, got ${JSON.stringify(sink.events().map((e) => [e.action, e.target.digest]))}`,
      );
      return sink.events().slice(0, n);
    },
    async waitForAttempts(n, timeoutMs = 10_000) {
      await until(
        () => attempts.length >= n,
        timeoutMs,
        () => `${n} attempts, got ${attempts.length}`,
      );
    },
    stop,
    async restart() {
      server = createServer(handler);
      await listen();
    },
    close: stop,
  };
  return sink;
}

/** Waits `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
