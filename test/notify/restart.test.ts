/**
 * Queued events survive a restart: a registry stopped with undelivered events leaves them in the
 * storage root, and the next one on that root delivers them first. A crashed instance's queue is
 * adopted once its heartbeat is stale; a live replica's queue is left to it.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Event } from '../../src/notify/event.js';
import { OCI_MANIFEST, pushBlob, pushImage } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';
import { type Sink, sleep, startSink, until } from './sink.js';

const QUEUES = ['berth', 'notifications'];

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

describe('durable notification queues', () => {
  let root: string;
  let sink: Sink;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-notify-'));
    sink = await startSink();
  });

  after(async () => {
    await sink.close();
    await rm(root, { recursive: true, force: true });
  });

  function config(dir: string): object {
    return {
      storage: { filesystem: { rootdirectory: dir } },
      notifications: { endpoints: [{ name: 'hook', url: sink.url, timeout: '1s', threshold: 2, backoff: '100ms' }] },
    };
  }

  test('events queued before a restart are delivered after it, first and in order', async () => {
    const dir = join(root, 'restart');
    await sink.stop();
    const first = await startTestServer(config(dir));
    const image = await pushImage(first.url, 'restart/app', 'v1');
    await sleep(150);
    assert.equal(first.notifications.stats()[0]?.pending, 3);
    await first.close();

    // On disk: one file per event under the stopped instance's directory, marked closed.
    const instances = await readdir(join(dir, ...QUEUES));
    assert.equal(instances.length, 1);
    const [oldInstance = ''] = instances;
    const queued = await readdir(join(dir, ...QUEUES, oldInstance, 'queues', 'hook'));
    assert.deepEqual(queued, ['0000000000000001.json', '0000000000000002.json', '0000000000000003.json']);
    const heartbeat = JSON.parse(await readFile(join(dir, ...QUEUES, oldInstance, 'instance.json'), 'utf8')) as {
      closed?: boolean;
    };
    assert.equal(heartbeat.closed, true);

    // The next instance adopts them before serving, then queues its own behind them.
    const second = await startTestServer(config(dir));
    try {
      const pull = await fetch(`${second.url}/v2/restart/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(pull.status, 200);
      await pull.arrayBuffer();
      assert.equal(second.notifications.stats()[0]?.pending, 4);
      await sink.restart();
      const events = await sink.waitForEvents(4);
      assert.deepEqual(
        events.map((e) => [e.action, e.target.digest, e.source.instanceID === oldInstance]),
        [
          ['push', image.config.digest, true],
          ['push', image.layer.digest, true],
          ['push', image.manifestDigest, true],
          ['pull', image.manifestDigest, false],
        ],
      );
      await until(
        () => second.notifications.stats()[0]?.pending === 0,
        2000,
        () => 'the queue to drain',
      );
      assert.equal(await exists(join(dir, ...QUEUES, oldInstance)), false, 'the adopted directory is removed');
    } finally {
      await second.close();
    }
    // Stopped with nothing pending: nothing left behind.
    assert.deepEqual(await readdir(join(dir, ...QUEUES)), []);
    assert.equal(sink.events().length, 4);
    sink.received.length = 0;
  });

  test("a crashed instance's queue is adopted once stale; a live replica's is not", async () => {
    const dir = join(root, 'crash');
    const event = (digest: string, instanceID: string): Event => ({
      id: `id-${digest}`,
      timestamp: new Date().toISOString(),
      action: 'push',
      target: { mediaType: 'application/octet-stream', digest, size: 1, length: 1, repository: 'crash/app' },
      request: { id: 'r', method: 'PUT', useragent: 'x' },
      actor: {},
      source: { addr: 'gone:5000', instanceID },
    });
    // What a crash leaves: a heartbeat that stopped an hour ago, and event files.
    const write = async (id: string, updatedAt: Date, digests: string[]) => {
      const queue = join(dir, ...QUEUES, id, 'queues', 'hook');
      await mkdir(queue, { recursive: true });
      await writeFile(
        join(dir, ...QUEUES, id, 'instance.json'),
        JSON.stringify({ instanceID: id, addr: 'x:5000', startedAt: updatedAt, updatedAt }),
      );
      for (const [i, digest] of digests.entries()) {
        await writeFile(join(queue, `${String(i + 1).padStart(16, '0')}.json`), JSON.stringify(event(digest, id)));
      }
    };
    await write('crashed', new Date(Date.now() - 3_600_000), ['sha256:c1', 'sha256:c2', 'sha256:c3']);
    await write('alive', new Date(), ['sha256:a1']);

    const server = await startTestServer(config(dir));
    try {
      const own = await pushBlob(server.url, 'crash/app', 'after the crash');
      const events = await sink.waitForEvents(4);
      assert.deepEqual(
        events.map((e) => e.target.digest),
        ['sha256:c1', 'sha256:c2', 'sha256:c3', own],
      );
      await sleep(100);
      assert.equal(sink.events().length, 4, "the live replica's event is not taken");
      assert.equal(await exists(join(dir, ...QUEUES, 'crashed')), false);
      assert.deepEqual(await readdir(join(dir, ...QUEUES, 'alive', 'queues', 'hook')), ['0000000000000001.json']);
    } finally {
      await server.close();
    }
    sink.received.length = 0;
  });

  test('two replicas on one root each deliver the events they queued', async () => {
    const dir = join(root, 'replicas');
    const [a, b] = await Promise.all([startTestServer(config(dir)), startTestServer(config(dir))]);
    try {
      const fromA = await pushBlob(a.url, 'replicas/app', 'via a');
      const fromB = await pushBlob(b.url, 'replicas/app', 'via b');
      const events = await sink.waitForEvents(2);
      const byDigest = new Map(events.map((e) => [e.target.digest, e.source.instanceID]));
      assert.ok(byDigest.get(fromA) !== undefined && byDigest.get(fromB) !== undefined);
      assert.notEqual(byDigest.get(fromA), byDigest.get(fromB));
      assert.equal((await readdir(join(dir, ...QUEUES))).length, 2, 'one directory per instance');
      await sleep(100);
      assert.equal(sink.events().length, 2);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    sink.received.length = 0;
  });
});
