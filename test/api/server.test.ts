import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { validateConfig } from '../../src/config/load.js';
import { parseListenAddress, startServer } from '../../src/http/server.js';
import { decorateRegistry } from '../helpers/decorators.js';
import { deferred } from '../helpers/deferred.js';
import { sha256 } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';

describe('server', () => {
  test('parses http.addr like distribution', () => {
    assert.deepEqual(parseListenAddress(':5000'), { host: undefined, port: 5000 });
    assert.deepEqual(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListenAddress('localhost:8080'), { host: 'localhost', port: 8080 });
    assert.deepEqual(parseListenAddress('[::1]:5000'), { host: '::1', port: 5000 });
    for (const bad of ['5000', 'host', ':', ':99999', 'a:b:c']) {
      assert.throws(() => parseListenAddress(bad), /invalid http.addr/, bad);
    }
  });

  test('listens on all interfaces for :<port> and reports a usable URL', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-server-'));
    const config = validateConfig({
      version: '0.1',
      storage: { filesystem: { rootdirectory: root } },
      http: { addr: ':0' },
      log: { accesslog: { disabled: true } },
    });
    const server = await startServer(config, { logger: pino({ level: 'silent' }) });
    try {
      assert.equal(server.url, `http://127.0.0.1:${server.port}`);
      assert.ok(server.port > 0);
      const res = await fetch(`${server.url}/v2/`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    } finally {
      await server.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  test('a malformed http.headers entry fails at startup', async () => {
    await assert.rejects(startTestServer({ http: { headers: { 'Bad Name': ['x'] } } }), /header name/i);
    await assert.rejects(startTestServer({ http: { headers: { 'X-Ok': ['bad\nvalue'] } } }), /header/i);
  });

  test('close() lets an in-flight request finish and refuses new connections', async () => {
    const gate = deferred();
    const inService = deferred();
    const server = await startTestServer(
      {},
      {
        wrapRegistry: (registry) =>
          decorateRegistry(registry, {
            blobs: (real) => ({
              stat: async (digest, opts) => {
                inService.resolve();
                await gate.promise;
                return real.stat(digest, opts);
              },
            }),
          }),
      },
    );
    const inflight = new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/v2/drain/me/blobs/${sha256('x')}`, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    await inService.promise;
    const closed = server.close();
    await assert.rejects(fetch(`${server.url}/v2/`));
    gate.resolve();
    assert.equal(await inflight, 404);
    await closed;
  });
});
