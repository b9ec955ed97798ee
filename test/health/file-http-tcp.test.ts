/**
 * `health.file`, `health.http` and `health.tcp` as registry:2 defines them: each check fails and
 * recovers for real (a file appears and disappears, an endpoint served by the test flips its
 * status, a port closes and opens again). While one fails, every request to the registry answers
 * 503 UNAVAILABLE and `/debug/health` names the check with registry:2's message.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestServer } from '../helpers/server.js';
import { freePort } from '../helpers/tools.js';
import { assertUnavailable, get, healthy, waitForReport } from './support.js';

const DEBUG = { addr: '127.0.0.1:0' };

describe('health.file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-health-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('the registry is unavailable while the file exists', async () => {
    const flag = join(dir, 'maintenance');
    const server = await startTestServer({
      http: { debug: DEBUG },
      health: { file: [{ file: flag, interval: '50ms' }] },
    });
    try {
      const debugUrl = server.debugUrl ?? '';
      await waitForReport(debugUrl, healthy);
      assert.equal((await get(`${server.url}/v2/`)).status, 200);

      await writeFile(flag, 'down for maintenance');
      const { status, report } = await waitForReport(debugUrl, (s) => s === 503);
      assert.equal(status, 503);
      assert.deepEqual(report, { [flag]: 'file exists' });
      const base = await get(`${server.url}/v2/`);
      assertUnavailable(base, 'GET /v2/');
      assert.equal(base.headers.get('docker-distribution-api-version'), 'registry/2.0');
      assertUnavailable(await get(`${server.url}/v2/some/repo/tags/list`), 'GET tags');
      assertUnavailable(await get(`${server.url}/`), 'GET / (the load balancer probe)');
      const push = await get(`${server.url}/v2/some/repo/blobs/uploads/`, { method: 'POST', body: 'x'.repeat(1000) });
      assertUnavailable(push, 'POST upload');

      await rm(flag);
      await waitForReport(debugUrl, healthy);
      assert.equal((await get(`${server.url}/v2/`)).status, 200);
      assert.equal((await get(`${server.url}/`)).status, 200);
    } finally {
      await server.close();
    }
  });

  test('checks gate the registry even without a debug listener, from the first run', async () => {
    const flag = join(dir, 'present-at-start');
    await writeFile(flag, '');
    const server = await startTestServer({ health: { file: [{ file: flag, interval: '10s' }] } });
    try {
      assert.equal(server.debugUrl, undefined);
      // The first run happens at start, not one 10 s interval later.
      let answer = await get(`${server.url}/v2/`);
      for (let i = 0; i < 100 && answer.status === 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        answer = await get(`${server.url}/v2/`);
      }
      assertUnavailable(answer, 'GET /v2/');
    } finally {
      await server.close();
    }
  });
});

describe('health.http', () => {
  test('fails after threshold unexpected answers, recovers after one good one', async () => {
    let status = 204;
    let hang = false;
    const probes: Array<{ method: string | undefined; headers: IncomingHttpHeaders; status: number }> = [];
    const endpoint = createHttpServer((req, res) => {
      if (hang) return;
      probes.push({ method: req.method, headers: req.headers, status });
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    const address = endpoint.address();
    assert.ok(address !== null && typeof address === 'object');
    const uri = `http://127.0.0.1:${address.port}/ready`;
    const server = await startTestServer({
      http: { debug: DEBUG },
      health: {
        http: [
          { uri, headers: { 'X-Probe': ['berth'] }, statuscode: 204, timeout: '300ms', interval: '50ms', threshold: 3 },
        ],
      },
    });
    try {
      const debugUrl = server.debugUrl ?? '';
      // The report starts empty: wait for the first probe to have been answered.
      for (let i = 0; i < 250 && probes.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      await waitForReport(debugUrl, healthy);
      assert.equal(probes[0]?.method, 'HEAD');
      assert.equal(probes[0]?.headers['x-probe'], 'berth');

      status = 500;
      const flippedAt = probes.length;
      const { report } = await waitForReport(debugUrl, (s) => s === 503);
      assert.equal(report[uri], `${uri}: downstream service returned unexpected status: 500`);
      const failedProbes = probes.slice(flippedAt).filter((p) => p.status === 500).length;
      assert.ok(failedProbes >= 3, `reported failing after ${failedProbes} failed probes (threshold 3)`);
      assertUnavailable(await get(`${server.url}/v2/`), 'GET /v2/');

      status = 204;
      await waitForReport(debugUrl, healthy);
      assert.equal((await get(`${server.url}/v2/`)).status, 200);

      hang = true;
      const hung = await waitForReport(debugUrl, (s) => s === 503);
      assert.match(hung.report[uri] ?? '', /error while checking|timed out/);
      hang = false;
      await waitForReport(debugUrl, healthy);
    } finally {
      await server.close();
      endpoint.closeAllConnections();
      await new Promise((resolve) => endpoint.close(resolve));
    }
  });
});

describe('health.tcp', () => {
  test('fails while nothing listens on the address, recovers when it does again', async () => {
    const port = await freePort();
    const listen = async (): Promise<Server> => {
      const s = createTcpServer((socket) => socket.destroy());
      await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
      return s;
    };
    let listener = await listen();
    const addr = `127.0.0.1:${port}`;
    const server = await startTestServer({
      http: { debug: DEBUG },
      health: { tcp: [{ addr, timeout: '500ms', interval: '50ms', threshold: 1 }] },
    });
    try {
      const debugUrl = server.debugUrl ?? '';
      await waitForReport(debugUrl, healthy);

      await new Promise((resolve) => listener.close(resolve));
      const { report } = await waitForReport(debugUrl, (s) => s === 503);
      assert.match(report[addr] ?? '', new RegExp(`^${addr}: connection failed: .*ECONNREFUSED`));
      assertUnavailable(await get(`${server.url}/v2/`), 'GET /v2/');

      listener = await listen();
      await waitForReport(debugUrl, healthy);
      assert.equal((await get(`${server.url}/v2/`)).status, 200);
    } finally {
      await server.close();
      await new Promise((resolve) => listener.close(resolve));
    }
  });
});
