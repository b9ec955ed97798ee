/**
 * Reading request bodies (src/http/body.ts): every byte in order with a slow consumer, an early
 * stop that leaves the request able to carry an answer, a client that goes away mid-body, and the
 * request's abort signal ending a read that waits for bytes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { bodyStream, settleUnreadBody } from '../../src/http/body.js';

type Handler = (req: IncomingMessage, res: ServerResponse, signal: AbortSignal, abort: (e: Error) => void) => void;

async function withServer(handler: Handler, fn: (port: number) => Promise<void>): Promise<void> {
  const server = createServer((req, res) => {
    const controller = new AbortController();
    handler(req, res, controller.signal, (e) => controller.abort(e));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn((server.address() as AddressInfo).port);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** Sends `parts` as one PUT body, pausing between parts; resolves with the answer. */
function put(port: number, parts: Buffer[], pauseMs = 0): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const length = parts.reduce((n, p) => n + p.length, 0);
    const req = request({ port, host: '127.0.0.1', method: 'PUT', path: '/', headers: { 'Content-Length': length } });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    (async () => {
      for (const part of parts) {
        req.write(part);
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
      req.end();
    })().catch(reject);
  });
}

describe('request bodies', () => {
  it('delivers every byte in order to a slow consumer', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await withServer(
      (req, res) => {
        (async () => {
          const chunks: Buffer[] = [];
          let n = 0;
          for await (const chunk of bodyStream(req, undefined)) {
            chunks.push(chunk);
            // A consumer slower than the socket: the request is paused and resumed meanwhile.
            if (++n % 8 === 0) await new Promise((r) => setTimeout(r, 1));
          }
          res.end(Buffer.concat(chunks).equals(data) ? 'same' : 'different');
        })().catch((error: unknown) => res.destroy(error as Error));
      },
      async (port) => {
        const parts = [];
        for (let at = 0; at < data.length; at += 200_000) parts.push(data.subarray(at, at + 200_000));
        assert.deepEqual(await put(port, parts), { status: 200, body: 'same' });
      },
    );
  });

  it('stops early without destroying the request, so an answer still reaches the client', async () => {
    await withServer(
      (req, res) => {
        (async () => {
          for await (const chunk of bodyStream(req, undefined)) {
            if (chunk.length > 0) break;
          }
          res.statusCode = 413;
          settleUnreadBody(req, res);
          res.end('too large');
        })().catch((error: unknown) => res.destroy(error as Error));
      },
      async (port) => {
        assert.deepEqual(await put(port, [randomBytes(64 * 1024), randomBytes(64 * 1024)], 20), {
          status: 413,
          body: 'too large',
        });
      },
    );
  });

  it('rejects a pending read when the client goes away, and when the request is aborted', async () => {
    const outcomes: string[] = [];
    let settled: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      settled = resolve;
    });
    await withServer(
      (req, _res, signal, abort) => {
        const aborting = req.headers['x-abort'] === '1';
        (async () => {
          for await (const _ of bodyStream(req, signal)) {
            if (aborting) setTimeout(() => abort(new Error('stopped by the server')), 10);
          }
          outcomes.push('ended');
        })()
          .catch((error: unknown) => outcomes.push((error as Error).message))
          .finally(() => {
            if (outcomes.length === 2) settled();
          });
      },
      async (port) => {
        for (const aborting of ['0', '1']) {
          const req = request({
            port,
            host: '127.0.0.1',
            method: 'PUT',
            path: '/',
            headers: { 'Content-Length': 1_000_000, 'X-Abort': aborting },
          });
          req.on('error', () => {});
          req.write(randomBytes(1000));
          await new Promise((r) => setTimeout(r, 50));
          if (aborting === '0') req.destroy();
          else await new Promise((r) => setTimeout(r, 50));
          if (aborting === '1') req.destroy();
        }
        await done;
      },
    );
    assert.equal(outcomes.length, 2);
    assert.ok(!outcomes.includes('ended'), outcomes.join(', '));
    assert.ok(outcomes.includes('stopped by the server'), outcomes.join(', '));
  });
});
