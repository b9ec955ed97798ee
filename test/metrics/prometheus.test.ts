/**
 * A real Prometheus server (Debian's, installed by scripts/install-test-tools.sh) scrapes Berth's
 * debug listener: the target is up with no scrape error, and a query over the ingested samples
 * counts the requests the test made.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pushBlob } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';
import { freePort } from '../helpers/tools.js';

interface QueryResult {
  status: string;
  data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

async function query(prometheus: string, promql: string): Promise<QueryResult['data']['result']> {
  const res = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as QueryResult;
  assert.equal(body.status, 'success');
  return body.data.result;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test('a Prometheus server scrapes and ingests the metrics', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-prometheus-'));
  const server = await startTestServer({ http: { debug: { addr: '127.0.0.1:0', prometheus: { enabled: true } } } });
  let prometheus: ChildProcess | undefined;
  try {
    const digest = await pushBlob(server.url, 'scraped/repo', 'scraped by prometheus');
    for (let i = 0; i < 3; i++) await (await fetch(`${server.url}/v2/scraped/repo/blobs/${digest}`)).arrayBuffer();

    const target = new URL(server.debugUrl ?? '').host;
    await writeFile(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        'scrape_configs:',
        '  - job_name: berth',
        '    metrics_path: /metrics',
        '    static_configs:',
        `      - targets: ['${target}']`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
    const api = `http://127.0.0.1:${port}`;

    const health = await eventually('the target to be scraped', async () => {
      const res = await fetch(`${api}/api/v1/targets`);
      const body = (await res.json()) as { data: { activeTargets: Array<{ health: string; lastError: string }> } };
      const [first] = body.data.activeTargets;
      return first !== undefined && first.health !== 'unknown' ? first : undefined;
    });
    assert.equal(health.lastError, '', 'Prometheus parsed the scrape');
    assert.equal(health.health, 'up');

    const gets = await eventually('the blob GETs to be ingested', async () => {
      const result = await query(
        api,
        'registry_http_requests_total{job="berth",handler="blob",method="get",code="200"}',
      );
      return result.length > 0 ? result : undefined;
    });
    assert.equal(gets[0]?.value[1], '3');
    const latency = await query(api, 'registry_http_request_duration_seconds_count{handler="blob",method="get"}');
    assert.equal(latency[0]?.value[1], '3');
    const storage = await query(api, 'sum(registry_storage_action_seconds_count{driver="filesystem"})');
    assert.ok(Number(storage[0]?.value[1]) > 0);
  } finally {
    if (prometheus !== undefined && prometheus.exitCode === null) {
      prometheus.kill('SIGTERM');
      await once(prometheus, 'exit');
    }
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
