/**
 * An offline collection with `storage.cache.blobdescriptor: redis` clears from the shared Redis
 * what it deletes, so replicas do not answer for deleted blobs from the cache; with Redis down it
 * refuses before deleting anything.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { garbageCollect } from '../../src/cli/garbage-collect.js';
import { startTestServer } from '../helpers/server.js';
import { type RedisServer, startRedisServer } from '../redis/redis-server.js';
import { imageBlobs, pushImage, snapshotTree } from './fixtures.js';

function sink(): PassThrough & { text(): string } {
  const stream = new PassThrough() as PassThrough & { text(): string };
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.text = () => Buffer.concat(chunks).toString('utf8');
  return stream;
}

describe('berth garbage-collect with a Redis descriptor cache', { timeout: 120_000 }, () => {
  let redis: RedisServer;
  let dir: string;
  before(async () => {
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), 'berth-gc-redis-'));
  });
  after(async () => {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('forgets the deleted blobs and links, keeps the rest, and refuses when Redis is down', async () => {
    const root = join(dir, 'data');
    const settings = {
      storage: {
        filesystem: { rootdirectory: root },
        delete: { enabled: true },
        cache: { blobdescriptor: 'redis' },
      },
      redis: { addr: redis.addr },
    };
    const server = await startTestServer(settings);
    let kept: string[];
    let gone: string[];
    try {
      const keep = await pushImage(server.url, 'cache/app', 'v1');
      const drop = await pushImage(server.url, 'cache/app', 'v2');
      const removed = await fetch(`${server.url}/v2/cache/app/manifests/${drop.digest}`, { method: 'DELETE' });
      assert.equal(removed.status, 202);
      kept = imageBlobs(keep);
      gone = [drop.config.digest, ...drop.layers.map((l) => l.digest), drop.digest];
      // HEADs fill the cache with every blob's descriptor, the deleted image's included.
      for (const digest of [...kept, ...gone.slice(0, -1)]) {
        const head = await fetch(`${server.url}/v2/cache/app/blobs/${digest}`, { method: 'HEAD' });
        assert.equal(head.status, 200, digest);
      }
    } finally {
      await server.close();
    }

    const raw = new Redis({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: 0 });
    // It reconnects in vain once the server is stopped below.
    raw.on('error', () => undefined);
    try {
      const cached = async (digest: string) => (await raw.exists(`blobs::${digest}`)) === 1;
      for (const digest of gone.slice(0, -1)) assert.ok(await cached(digest), `cached before: ${digest}`);

      const config = join(dir, 'config.yml');
      await writeFile(
        config,
        [
          'version: 0.1',
          'log:',
          '  level: error',
          'storage:',
          '  filesystem:',
          `    rootdirectory: ${root}`,
          '  cache:',
          '    blobdescriptor: redis',
          'redis:',
          `  addr: ${redis.addr}`,
          '',
        ].join('\n'),
      );
      const stderr = sink();
      assert.equal(
        await garbageCollect(config, { quiet: true }, { stdout: sink(), stderr, env: {} }),
        0,
        stderr.text(),
      );
      for (const digest of gone) assert.equal(await cached(digest), false, `forgotten: ${digest}`);
      for (const digest of kept) assert.ok(await cached(digest), `still cached: ${digest}`);
      const links = await raw.smembers('repository::cache/app::blobs');
      for (const digest of gone) assert.ok(!links.includes(digest), `link forgotten: ${digest}`);

      // Something to collect again (a blob nothing references), then Redis goes away: nothing may be deleted.
      const orphan = createHash('sha256').update('orphan').digest('hex');
      const orphanDir = join(root, 'docker/registry/v2/blobs/sha256', orphan.slice(0, 2), orphan);
      await mkdir(orphanDir, { recursive: true });
      await writeFile(join(orphanDir, 'data'), 'orphan');
      const before = await snapshotTree(root);
      await redis.stop();
      const refused = sink();
      assert.equal(await garbageCollect(config, {}, { stdout: sink(), stderr: refused, env: {} }), 1);
      assert.match(refused.text(), /does not answer.*start Redis, or run with --dry-run/s);
      assert.deepEqual(await snapshotTree(root), before);
      // A dry run deletes nothing, so it needs no Redis.
      const dry = sink();
      assert.equal(await garbageCollect(config, { dryRun: true }, { stdout: dry, stderr: sink(), env: {} }), 0);
      assert.match(dry.text(), new RegExp(`blob eligible for deletion: sha256:${orphan}`));
    } finally {
      raw.disconnect();
    }
  });
});
