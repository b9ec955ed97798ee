import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Readable, Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { currentContext } from '../../src/http/context.js';
import { decorateRegistry } from '../helpers/decorators.js';
import { deferred } from '../helpers/deferred.js';
import { assertError, pushBlob, sha256 } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

/** A pino logger whose JSON lines are collected in `lines`. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line));
      callback();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

describe('dispatcher', () => {
  test('http.headers are added to every response, errors and health checks included', async () => {
    const server = await startTestServer({
      http: { headers: { 'X-Content-Type-Options': ['nosniff'], 'X-Multi': ['a', 'b'] } },
    });
    try {
      for (const path of ['/', '/v2/', '/v2/nope/tags/list', '/v2/x/y', '/elsewhere']) {
        const res = await fetch(`${server.url}${path}`);
        await res.arrayBuffer();
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
        assert.equal(res.headers.get('x-multi'), 'a, b', path);
      }
    } finally {
      await server.close();
    }
  });

  test('one access-log line per request with method, path, status, bytes, duration, id, remote', async () => {
    const { logger, lines } = capturingLogger();
    const server = await startTestServer({ log: { accesslog: { disabled: false } } }, { logger });
    try {
      await (await fetch(`${server.url}/v2/`)).arrayBuffer();
      await (await fetch(`${server.url}/v2/acc/tags/list?n=1`)).arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const access = lines.filter((l) => l['msg'] === 'request');
      assert.equal(access.length, 2);
      const [ok, missing] = access;
      assert.equal(ok?.['method'], 'GET');
      assert.equal(ok?.['path'], '/v2/');
      assert.equal(ok?.['status'], 200);
      assert.ok(typeof ok?.['bytes'] === 'number' && ok['bytes'] > 2);
      assert.equal(typeof ok?.['durationMs'], 'number');
      assert.equal(ok?.['remoteAddr'], '127.0.0.1');
      assert.equal(missing?.['status'], 404);
      assert.equal(missing?.['path'], '/v2/acc/tags/list');
      assert.equal(typeof ok?.['reqId'], 'string');
      assert.notEqual(ok?.['reqId'], missing?.['reqId']);
    } finally {
      await server.close();
    }
  });

  test('log.accesslog.disabled silences the access log', async () => {
    const { logger, lines } = capturingLogger();
    const server = await startTestServer({ log: { accesslog: { disabled: true } } }, { logger });
    try {
      await (await fetch(`${server.url}/v2/`)).arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(lines.filter((l) => l['msg'] === 'request').length, 0);
    } finally {
      await server.close();
    }
  });

  test('with notifications, service calls run inside the request context, with the request signal', async () => {
    const seen: Array<{ id: string | undefined; sameSignal: boolean }> = [];
    const server = await startTestServer(
      // Nothing listens on port 9: the events just wait in the queue.
      { notifications: { endpoints: [{ name: 'nowhere', url: 'http://127.0.0.1:9/events' }] } },
      {
        wrapRegistry: (registry) =>
          decorateRegistry(registry, {
            blobs: (real) => ({
              stat: (digest, opts) => {
                const context = currentContext();
                seen.push({ id: context?.id, sameSignal: context !== undefined && opts?.signal === context.signal });
                return real.stat(digest, opts);
              },
            }),
          }),
      },
    );
    try {
      await (await fetch(`${server.url}/v2/ctx/a/blobs/${sha256('x')}`)).arrayBuffer();
      await (await fetch(`${server.url}/v2/ctx/a/blobs/${sha256('x')}`)).arrayBuffer();
      assert.equal(seen.length, 2);
      assert.ok(seen[0]?.id && seen[1]?.id && seen[0].id !== seen[1].id);
      assert.ok(seen.every((s) => s.sameSignal));
    } finally {
      await server.close();
    }
  });

  test('without a consumer of it, no request context is propagated, and the signal is still passed', async () => {
    const seen: Array<{ context: unknown; signal: boolean }> = [];
    const server = await startTestServer(
      {},
      {
        wrapRegistry: (registry) =>
          decorateRegistry(registry, {
            blobs: (real) => ({
              stat: (digest, opts) => {
                seen.push({ context: currentContext(), signal: opts?.signal instanceof AbortSignal });
                return real.stat(digest, opts);
              },
            }),
          }),
      },
    );
    try {
      await (await fetch(`${server.url}/v2/ctx/a/blobs/${sha256('x')}`)).arrayBuffer();
      assert.deepEqual(seen, [{ context: undefined, signal: true }]);
    } finally {
      await server.close();
    }
  });

  test('a client going away aborts the signal passed to the service', async () => {
    const aborted = deferred<unknown>();
    const inService = deferred();
    const server = await startTestServer(
      {},
      {
        wrapRegistry: (registry) =>
          decorateRegistry(registry, {
            blobs: () => ({
              stat: (_digest, opts) =>
                new Promise((_resolve, reject) => {
                  inService.resolve();
                  opts?.signal?.addEventListener('abort', () => {
                    aborted.resolve(opts.signal?.reason);
                    reject(opts.signal?.reason);
                  });
                }),
            }),
          }),
      },
    );
    try {
      const req = request(`${server.url}/v2/abort/me/blobs/${sha256('x')}`);
      req.on('error', () => undefined);
      req.end();
      await inService.promise;
      req.destroy();
      assert.ok((await aborted.promise) instanceof Error);
      // The server is still healthy afterwards.
      assert.equal((await fetch(`${server.url}/v2/`)).status, 200);
    } finally {
      await server.close();
    }
  });

  test('an unexpected error answers 500 UNKNOWN without internals and is logged once', async () => {
    const { logger, lines } = capturingLogger();
    const server = await startTestServer(
      {},
      {
        logger,
        wrapRegistry: (registry) =>
          decorateRegistry(registry, {
            blobs: () => ({
              stat: async () => {
                throw new Error('secret internal detail');
              },
            }),
          }),
      },
    );
    try {
      const res = await fetch(`${server.url}/v2/boom/x/blobs/${sha256('x')}`);
      const error = await assertError(res, 500, 'UNKNOWN');
      assert.doesNotMatch(JSON.stringify(error), /secret/);
      const logged = lines.filter((l) => l['level'] === 50);
      assert.equal(logged.length, 1);
      assert.match(JSON.stringify(logged[0]), /secret internal detail/);
    } finally {
      await server.close();
    }
  });

  test('an error after the headers went out cuts the connection instead of writing JSON', async () => {
    const server = await startTestServer(
      {},
      {
        wrapRegistry: (registry) =>
          decorateRegistry(registry, {
            blobs: (real) => ({
              open: async (digest, opts) => {
                const content = await real.open(digest, opts);
                const source = content.stream;
                // A first kilobyte goes out (and with it the headers), then the read fails.
                const failing = Readable.from(
                  (async function* () {
                    for await (const chunk of source) {
                      yield (chunk as Buffer).subarray(0, 1000);
                      source.destroy();
                      throw new Error('disk went away');
                    }
                  })(),
                );
                return { ...content, stream: failing };
              },
            }),
          }),
      },
    );
    try {
      const digest = await pushBlob(server.url, 'cut/x', Buffer.alloc(1024 * 1024, 1));
      const res = await fetch(`${server.url}/v2/cut/x/blobs/${digest}`);
      assert.equal(res.status, 200);
      await assert.rejects(res.arrayBuffer());
      assert.equal((await fetch(`${server.url}/v2/`)).status, 200);
    } finally {
      await server.close();
    }
  });
});

describe('read-only mode', () => {
  test('every write under /v2/ answers 405 UNSUPPORTED; reads still work', async () => {
    const server = await startTestServer({
      storage: { maintenance: { readonly: { enabled: true } }, delete: { enabled: true } },
    });
    try {
      const digest = sha256('x');
      const writes: Array<[string, string]> = [
        ['POST', '/v2/ro/app/blobs/uploads/'],
        ['POST', `/v2/ro/app/blobs/uploads/?digest=${digest}`],
        ['PATCH', '/v2/ro/app/blobs/uploads/some-id'],
        ['PUT', `/v2/ro/app/blobs/uploads/some-id?digest=${digest}`],
        ['DELETE', '/v2/ro/app/blobs/uploads/some-id'],
        ['PUT', '/v2/ro/app/manifests/latest'],
        ['DELETE', `/v2/ro/app/manifests/${digest}`],
        ['DELETE', `/v2/ro/app/blobs/${digest}`],
      ];
      for (const [method, path] of writes) {
        const res = await fetch(`${server.url}${path}`, { method, ...(method === 'GET' ? {} : { body: 'x' }) });
        const error = await assertError(res, 405, 'UNSUPPORTED');
        assert.match(error.message, /read-only/, `${method} ${path}`);
      }
      assert.equal((await fetch(`${server.url}/v2/`)).status, 200);
      await assertError(await fetch(`${server.url}/v2/ro/app/manifests/latest`), 404, 'MANIFEST_UNKNOWN');
      await assertError(await fetch(`${server.url}/v2/ro/app/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    } finally {
      await server.close();
    }
  });
});
