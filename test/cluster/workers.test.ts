/**
 * `http.workers`: `berth serve` as a node:cluster primary. One upload's requests are spread over
 * the workers (which share nothing but storage) and still commit; a worker killed with SIGKILL is
 * replaced; SIGTERM stops the primary and every worker.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { earlyWorkerCount } from '../../src/cli/cluster.js';
import { runCli, startCli } from '../cli/run-cli.js';
import { sha256 } from '../helpers/http.js';
import { startWorkerCluster } from '../helpers/workers.js';

interface LogLine {
  msg: string;
  pid?: number;
  method?: string;
  path?: string;
  url?: string;
  [key: string]: unknown;
}

/** One request on its own connection, so the cluster's round-robin picks a worker for it. */
function send(
  url: string,
  method: string,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, headers: { Connection: 'close', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Processes whose command line mentions `marker`: a primary's workers run its very command line. */
async function processesMentioning(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(marker)) found.push(Number(entry));
  }
  return found;
}

describe('workers forked before the configuration is read', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-early-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('none when the environment or the file plainly asks for one process', async () => {
    const cpus = availableParallelism();
    const write = async (name: string, text: string): Promise<string> => {
      const path = join(dir, name);
      await writeFile(path, text);
      return path;
    };
    const one = await write('one.yml', 'version: 0.1\nhttp:\n  addr: :5000\n  workers: 1  # one process\n');
    const memory = await write('memory.yml', 'version: 0.1\nstorage: inmemory\n');
    const memoryBlock = await write('memory-block.yml', 'version: 0.1\nstorage:\n  inmemory:\n');
    const four = await write('four.yml', 'version: 0.1\nhttp:\n  workers: 4\n');
    const plain = await write('plain.yml', 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /x\n');
    for (const file of [one, memory, memoryBlock]) assert.equal(earlyWorkerCount({}, file), 0, file);
    assert.equal(earlyWorkerCount({ REGISTRY_CONFIGURATION_PATH: one }), 0);
    assert.equal(earlyWorkerCount({ REGISTRY_HTTP_WORKERS: '1' }, plain), 0);
    assert.equal(earlyWorkerCount({ REGISTRY_STORAGE: 'inmemory' }, plain), 0);
    // Otherwise one per CPU but one, as many as wanted at most.
    assert.equal(earlyWorkerCount({}, plain), cpus - 1);
    assert.equal(earlyWorkerCount({}, four), Math.min(4, cpus - 1));
    assert.equal(earlyWorkerCount({ REGISTRY_HTTP_WORKERS: '2' }, one), Math.min(2, cpus - 1));
    assert.equal(earlyWorkerCount({}, join(dir, 'missing.yml')), cpus - 1);
  });
});

describe('http.workers', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-workers-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('spreads one upload over the workers, replaces a killed worker, and stops on SIGTERM', {
    timeout: 90_000,
  }, async () => {
    const cli = await startWorkerCluster(dir);
    const logs = (): LogLine[] => cli.lines.map((line) => JSON.parse(line) as LogLine);
    /** A line already read, or the next one to come, that satisfies `match`. */
    const lineWhere = async (match: (line: string) => boolean): Promise<string> =>
      cli.lines.find(match) ?? (await cli.waitForLine(match));
    try {
      const first = JSON.parse(await cli.waitForLine((l) => l.includes('"ready at '))) as LogLine;
      const url = String(first.url);
      await lineWhere((l) => l.includes('"ready at ') && !l.includes(`"pid":${first.pid},`));
      await lineWhere((l) => l.includes('serving with 2 workers'));
      const workers = new Set(
        logs()
          .filter((l) => l.msg.startsWith('ready at'))
          .map((l) => l.pid),
      );
      assert.equal(workers.size, 2, 'two worker processes');
      assert.ok(logs().some((l) => l.msg.includes('generated one for the workers')));

      const bytes = randomBytes(64 * 1024);
      const digest = sha256(bytes);
      const start = await send(`${url}/v2/workers/repo/blobs/uploads/`, 'POST');
      assert.equal(start.status, 202);
      let location = new URL(String(start.headers['location']), url).toString();
      const id = new URL(location).pathname.split('/').pop() ?? '';
      for (let offset = 0; offset < bytes.length; offset += 16 * 1024) {
        const chunk = bytes.subarray(offset, offset + 16 * 1024);
        const res = await send(location, 'PATCH', chunk, {
          'Content-Range': `${offset}-${offset + chunk.length - 1}`,
          'Content-Length': String(chunk.length),
        });
        assert.equal(res.status, 202, res.body.toString());
        location = new URL(String(res.headers['location']), url).toString();
      }
      const put = new URL(location);
      put.searchParams.set('digest', digest);
      assert.equal((await send(put.toString(), 'PUT')).status, 201);
      const pulled = await send(`${url}/v2/workers/repo/blobs/${digest}`, 'GET');
      assert.deepEqual(pulled.body, bytes);

      // The access log shows which worker served each request of the upload.
      await lineWhere((l) => l.includes('"msg":"request"') && l.includes('"method":"PUT"') && l.includes(id));
      const servedBy = new Set(
        logs()
          .filter((l) => l.msg === 'request' && l.path?.endsWith(`/uploads/${id}`))
          .map((l) => l.pid),
      );
      assert.equal(servedBy.size, 2, `the upload's requests were served by ${[...servedBy].join(', ')}`);

      const victim = first.pid ?? 0;
      process.kill(victim, 'SIGKILL');
      await cli.waitForLine((l) => l.includes('worker died'));
      const replacement = JSON.parse(
        await cli.waitForLine((l) => l.includes('"ready at ') && !workers.has(JSON.parse(l).pid)),
      ) as LogLine;
      assert.notEqual(replacement.pid, victim);
      for (let i = 0; i < 4; i++) {
        assert.equal((await send(`${url}/v2/workers/repo/blobs/${digest}`, 'HEAD')).status, 200);
      }
      workers.add(replacement.pid);
    } finally {
      cli.child.kill('SIGTERM');
    }
    const { code, stderr } = await cli.finished();
    assert.equal(code, 0, stderr);
    for (const line of logs()) {
      if (typeof line.pid === 'number') assert.ok(!alive(line.pid), `worker ${line.pid} is gone`);
    }
  });

  test('storage.inmemory runs a single process whatever http.workers says', { timeout: 30_000 }, async () => {
    const cli = startCli(['serve'], {
      cwd: dir,
      env: {
        REGISTRY_HTTP_ADDR: '127.0.0.1:0',
        REGISTRY_STORAGE: 'inmemory',
        REGISTRY_HTTP_WORKERS: '3',
        REGISTRY_LOG_FORMATTER: 'json',
      },
    });
    try {
      const ready = JSON.parse(await cli.waitForLine((l) => l.includes('"ready at '))) as LogLine;
      assert.equal(ready.pid, undefined, 'served by the process itself, not a worker');
      assert.ok(cli.lines.some((l) => l.includes('storage.inmemory is private to one process')));
    } finally {
      cli.child.kill('SIGTERM');
    }
    const { code } = await cli.finished();
    assert.equal(code, 0);
  });

  // The primary forks a worker before it reads the configuration (one per CPU but one; this
  // machine class has two): whatever the file then says, that worker must not outlive the answer.
  test('a configuration error stops the workers forked before it was read', { timeout: 30_000 }, async () => {
    const config = join(dir, 'invalid-early-workers.yml');
    const data = JSON.stringify(join(dir, 'invalid-data'));
    await writeFile(
      config,
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${data}\nhttp:\n  relativeurls: perhaps\n`,
    );
    const { code, stderr } = await runCli(['serve', config], { cwd: dir });
    assert.equal(code, 1, stderr);
    assert.match(stderr, /http\.relativeurls: expected boolean, got string "perhaps"/);
    assert.deepEqual(await processesMentioning(config), [], 'no worker left behind');
  });

  test('a file asking for one process is served by the primary alone', { timeout: 30_000 }, async () => {
    // Flow style hides `workers: 1` from the start-up hint (earlyWorkerCount), so a worker is forked
    // early and must then be stopped.
    const config = join(dir, 'one-worker.yml');
    const root = JSON.stringify(join(dir, 'one-worker-data'));
    await writeFile(
      config,
      `version: 0.1\nlog: {formatter: json}\nstorage: {filesystem: {rootdirectory: ${root}}}\nhttp: {addr: "127.0.0.1:0", workers: 1}\n`,
    );
    assert.equal(earlyWorkerCount({}, config), availableParallelism() - 1);
    const cli = startCli(['serve', config], { cwd: dir });
    try {
      const ready = JSON.parse(await cli.waitForLine((l) => l.includes('"ready at '))) as LogLine;
      assert.equal(ready.pid, undefined, 'served by the process itself, not a worker');
      assert.equal((await send(`${String(ready.url)}/v2/`, 'GET')).status, 200);
      assert.deepEqual(await processesMentioning(config), [cli.child.pid], 'the early worker was stopped');
    } finally {
      cli.child.kill('SIGTERM');
    }
    const { code } = await cli.finished();
    assert.equal(code, 0);
  });
});
