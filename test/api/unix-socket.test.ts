/** `http.net: unix`: serving the API on a Unix domain socket, as distribution does for a local proxy. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { listenTarget } from '../../src/http/server.js';
import { startTestServer } from '../helpers/server.js';

function get(socketPath: string, path: string, method = 'GET') {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request({ socketPath, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('http.net: unix', () => {
  test('serves the API on the socket, replaces a stale one, and removes it on close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-unix-'));
    const socket = join(dir, 'berth.sock');
    try {
      // A process killed while listening leaves its socket file behind.
      const killed = spawnSync(process.execPath, [
        '-e',
        `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`,
      ]);
      assert.equal(killed.signal, 'SIGKILL');
      assert.ok((await stat(socket)).isSocket());

      const server = await startTestServer({ http: { net: 'unix', addr: socket } });
      try {
        assert.equal(server.url, `http+unix://${encodeURIComponent(socket)}`);
        const base = await get(socket, '/v2/');
        assert.equal(base.status, 200);
        assert.equal(base.headers['docker-distribution-api-version'], 'registry/2.0');
        const missing = await get(socket, `/v2/app/blobs/sha256:${'0'.repeat(64)}`, 'HEAD');
        assert.equal(missing.status, 404);
        const catalog = await get(socket, '/v2/_catalog');
        assert.deepEqual(JSON.parse(catalog.body), { repositories: [] });
      } finally {
        await server.close();
      }
      await assert.rejects(stat(socket), { code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a TCP address is not a socket path', () => {
    assert.throws(
      () => listenTarget({ addr: ':5000', net: 'unix' } as Parameters<typeof listenTarget>[0]),
      /with http.net unix it is a socket path/,
    );
    assert.deepEqual(listenTarget({ addr: '127.0.0.1:5000' } as Parameters<typeof listenTarget>[0]), {
      host: '127.0.0.1',
      port: 5000,
    });
  });
});
