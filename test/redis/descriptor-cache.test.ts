/**
 * `storage.cache.blobdescriptor: redis` against a real redis-server: two registry instances
 * (replicas: separate processes' memory, one storage, one Redis) — what a hit saves in storage
 * calls, invalidation across replicas on delete, distribution's key layout, and what happens when
 * Redis is stopped, restarted, or frozen.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createGuardedRedis, type GuardedRedis, OPEN_MS, redisStatuses } from '../../src/redis/client.js';
import { type Digest, digestFromHex, parseRepositoryName, parseTag } from '../../src/registry/names.js';
import { createRedisDescriptorCache, type RedisDescriptorCache } from '../../src/registry/redis-descriptor-cache.js';
import { createRegistry } from '../../src/registry/registry.js';
import type { Registry } from '../../src/registry/types.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { createFilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

/** Counts every driver call, so a test can say how many a request cost. */
function counting(driver: StorageDriver): { driver: StorageDriver; calls: () => number; reset: () => void } {
  let count = 0;
  const wrapped = new Proxy(driver, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        count++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { driver: wrapped, calls: () => count, reset: () => (count = 0) };
}

function sha(bytes: Uint8Array): Digest {
  return digestFromHex('sha256', createHash('sha256').update(bytes).digest('hex'));
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

interface Replica {
  registry: Registry;
  cache: RedisDescriptorCache;
  redis: GuardedRedis;
  logs: string[];
}

const name = parseRepositoryName('cache/repo');

describe('Redis descriptor cache', () => {
  let server: RedisServer;
  let root: string;
  let store: ReturnType<typeof counting>;
  let one: Replica;
  let two: Replica;
  let raw: Redis;

  function replica(): Replica {
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    const redis = createGuardedRedis({ addr: server.addr, readtimeout: 150, dialtimeout: 500 }, pino(sink));
    redis.connect();
    const cache = createRedisDescriptorCache({ redis });
    const registry = createRegistry({ driver: store.driver, deleteEnabled: true, descriptorCache: cache });
    return { registry, cache, redis, logs };
  }

  async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function pushBlob(registry: Registry, bytes: Uint8Array): Promise<Digest> {
    const session = await registry.repository(name).uploads().create();
    await session.append(once(bytes));
    return (await session.commit(sha(bytes))).digest;
  }

  before(async () => {
    server = await startRedisServer();
    root = await mkdtemp(join(tmpdir(), 'berth-redis-cache-'));
    store = counting(createFilesystemDriver({ rootdirectory: root }));
    raw = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true, maxRetriesPerRequest: 0 });
    raw.on('error', () => {});
    await raw.connect();
  });
  after(async () => {
    for (const r of [one, two]) await r?.redis.close();
    raw?.disconnect();
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    for (const r of [one, two]) await r?.redis.close();
    one = replica();
    two = replica();
    await waitUntil('both replicas are connected', () => [one, two].every((r) => r.redis.status().state === 'up'));
  });

  test('a blob HEAD/GET on another replica costs no link read after the first; the keys are distribution’s', async () => {
    const bytes = randomBytes(10_000);
    const digest = await pushBlob(one.registry, bytes);
    const blobs = two.registry.repository(name).blobs();
    store.reset();
    assert.equal((await blobs.stat(digest)).size, bytes.length);
    assert.ok(store.calls() >= 1, 'the first stat reads the link from storage');
    store.reset();
    assert.equal((await blobs.stat(digest)).size, bytes.length);
    assert.equal(store.calls(), 0, 'a repeated stat is answered by Redis alone');
    const opened = await blobs.open(digest, { size: bytes.length });
    opened.stream.resume();
    assert.equal(store.calls(), 1, 'a GET after the stat is one ranged read');

    assert.equal(await raw.hget(`blobs::${digest}`, 'size'), String(bytes.length));
    assert.equal(await raw.sismember(`repository::${name}::blobs`, digest), 1);
    assert.deepEqual(await raw.hmget(`repository::${name}::blobs::${digest}`, 'digest', 'size', 'berth.layer'), [
      digest,
      String(bytes.length),
      '1',
    ]);
    assert.ok((await raw.ttl(`repository::${name}::blobs::${digest}`)) > 0, 'link entries expire');
  });

  test('an entry registry:2 wrote (no Berth fields) serves a stat; deleting through one replica hides it on the other', async () => {
    const bytes = randomBytes(5000);
    const digest = await pushBlob(one.registry, bytes);
    await raw.del(`repository::${name}::blobs::${digest}`);
    await raw.hset(`repository::${name}::blobs::${digest}`, { digest, size: String(bytes.length), mediatype: 'x' });
    store.reset();
    assert.equal((await two.registry.repository(name).blobs().stat(digest)).size, bytes.length);
    assert.equal(store.calls(), 0);

    await one.registry.repository(name).blobs().delete(digest);
    assert.equal(await raw.exists(`repository::${name}::blobs::${digest}`), 0);
    assert.equal(await raw.sismember(`repository::${name}::blobs`, digest), 0);
    await assert.rejects(two.registry.repository(name).blobs().stat(digest), { code: 'BLOB_UNKNOWN' });
  });

  test('manifest HEAD by digest is answered from Redis; a manifest delete invalidates it everywhere', async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const layer = randomBytes(2000);
    const configDigest = await pushBlob(one.registry, config);
    const layerDigest = await pushBlob(one.registry, layer);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
      }),
    );
    const { digest } = await one.registry
      .repository(name)
      .manifests()
      .put(manifest, 'application/vnd.oci.image.manifest.v1+json', { tag: parseTag('v1') });
    const manifests = two.registry.repository(name).manifests();
    assert.equal(await manifests.exists(digest), true);
    store.reset();
    assert.equal(await manifests.exists(digest), true);
    assert.equal(store.calls(), 0, 'a repeated HEAD by digest touches no storage');
    assert.deepEqual((await manifests.get(digest)).payload, manifest);
    assert.equal(store.calls(), 1, 'a GET by digest is one read of the manifest bytes');

    await one.registry.repository(name).manifests().delete(digest);
    assert.equal(await manifests.exists(digest), false);
  });

  test('Redis stopped: requests fall through to storage at once, the change is logged once, and Redis is used again when back', async () => {
    const bytes = randomBytes(3000);
    const digest = await pushBlob(one.registry, bytes);
    const blobs = two.registry.repository(name).blobs();
    await blobs.stat(digest);
    await server.stop();
    await waitUntil('replica two sees Redis down', () => two.redis.status().state === 'down');
    const started = performance.now();
    for (let i = 0; i < 20; i++) assert.equal((await blobs.stat(digest)).size, bytes.length);
    const perRequest = (performance.now() - started) / 20;
    assert.ok(perRequest < 50, `${perRequest.toFixed(1)} ms per stat with Redis down`);
    const downLines = two.logs.filter((l) => l.includes('redis is unavailable'));
    assert.equal(downLines.length, 1, two.logs.join(''));
    assert.equal(two.cache.status().state, 'down');
    assert.ok(redisStatuses().every((status) => status.state === 'down' && status.addr === server.addr));
    assert.ok(two.cache.status().lastError);

    await server.restart();
    await waitUntil('replica two is back on Redis', () => two.redis.status().state === 'up');
    assert.equal(two.logs.filter((l) => l.includes('redis is available again')).length, 1);
    await blobs.stat(digest);
    store.reset();
    await blobs.stat(digest);
    assert.equal(store.calls(), 0, 'cached again');
  });

  test('Redis frozen: the breaker opens after a few timeouts, requests stop waiting, and an invalidation made meanwhile is replayed', {
    timeout: 30_000,
  }, async () => {
    const bytes = randomBytes(3000);
    const digest = await pushBlob(one.registry, bytes);
    await two.registry.repository(name).blobs().stat(digest);
    assert.equal(await raw.exists(`repository::${name}::blobs::${digest}`), 1);
    server.pause();
    try {
      const blobs = one.registry.repository(name).blobs();
      const times: number[] = [];
      for (let i = 0; i < 8; i++) {
        const started = performance.now();
        await blobs.stat(digest);
        times.push(performance.now() - started);
      }
      assert.equal(one.redis.status().state, 'down');
      const late = times.slice(-4);
      assert.ok(
        late.every((ms) => ms < 50),
        `once open, the breaker spares the wait: ${times.map((t) => t.toFixed(0)).join(', ')} ms`,
      );
      // Deleted while Redis cannot hear it: remembered, not lost.
      await blobs.delete(digest);
    } finally {
      server.resume();
    }
    assert.equal(await raw.exists(`repository::${name}::blobs::${digest}`), 1, 'still cached while frozen');
    await new Promise((resolve) => setTimeout(resolve, OPEN_MS));
    await one.registry
      .repository(name)
      .blobs()
      .stat(sha(randomBytes(8)))
      .catch(() => undefined);
    await waitUntil(
      'the delete reached Redis',
      async () => (await raw.exists(`repository::${name}::blobs::${digest}`)) === 0,
    );
    await assert.rejects(two.registry.repository(name).blobs().stat(digest), { code: 'BLOB_UNKNOWN' });
  });
});
