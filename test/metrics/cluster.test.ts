/**
 * `http.debug` under `http.workers`: the primary alone listens on the debug address; its metrics
 * add up the requests every worker served, and its health report is the union of the workers'
 * checks, which each gate their own requests.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitForReport } from '../health/support.js';
import { startWorkerCluster } from '../helpers/workers.js';
import { scrape } from './scrape.js';

/** One request on its own connection, so the cluster's round robin picks a worker for it. */
function status(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { Connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

interface LogLine {
  msg: string;
  pid?: number;
  port?: number;
  path?: string;
}

describe('http.debug with http.workers', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-debug-workers-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('the primary aggregates the workers metrics and health', { timeout: 90_000 }, async () => {
    const flag = join(dir, 'maintenance');
    const cli = await startWorkerCluster(dir, [
      '  debug:',
      '    addr: 127.0.0.1:0',
      '    prometheus:',
      '      enabled: true',
      'health:',
      '  file:',
      `    - file: ${JSON.stringify(flag)}`,
      '      interval: 50ms',
    ]);
    const logs = (): LogLine[] => cli.lines.map((line) => JSON.parse(line) as LogLine);
    try {
      const debugLine = JSON.parse(await cli.waitForLine((l) => l.includes('debug server listening'))) as LogLine;
      const debugUrl = `http://127.0.0.1:${debugLine.port}`;
      const serving = JSON.parse(await cli.waitForLine((l) => l.includes('serving with 2 workers'))) as LogLine;
      const url = `http://127.0.0.1:${serving.port}`;
      // Healthy means both workers answered the primary.
      await waitForReport(debugUrl, (s, r) => s === 200 && Object.keys(r).length === 0, 20_000);

      const requests = 8;
      for (let i = 0; i < requests; i++) assert.equal(await status(`${url}/v2/`), 200);
      const accessLines = (): LogLine[] => logs().filter((l) => l.msg === 'request' && l.path === '/v2/');
      while (accessLines().length < requests) await cli.waitForLine((l) => l.includes('"msg":"request"'));
      const pids = new Set(accessLines().map((l) => l.pid));
      assert.equal(pids.size, 2, 'both workers served some of the requests');
      const metrics = await scrape(`${debugUrl}/metrics`);
      assert.equal(
        metrics.value('registry_http_requests_total', { handler: 'base', method: 'get', code: '200' }),
        requests,
      );

      await writeFile(flag, '');
      const { report } = await waitForReport(debugUrl, (s) => s === 503);
      assert.deepEqual(report, { [flag]: 'file exists' });
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (let i = 0; i < 4; i++) assert.equal(await status(`${url}/v2/`), 503, 'every worker is unavailable');

      await rm(flag);
      await waitForReport(debugUrl, (s, r) => s === 200 && Object.keys(r).length === 0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (let i = 0; i < 4; i++) assert.equal(await status(`${url}/v2/`), 200);
    } finally {
      cli.child.kill('SIGTERM');
      const result = await cli.finished();
      assert.equal(result.code, 0, result.stderr);
    }
  });
});
