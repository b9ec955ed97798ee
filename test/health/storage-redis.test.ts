/**
 * `health.storagedriver`: the driver check fails when the store stops answering (a test-side
 * decorator making the real filesystem driver fail) or stops accepting writes (the storage root
 * replaced by a file: unwritable even for root), after `threshold` failures, and recovers. And the
 * Redis check: reported while Redis is down, without making a registry that serves fine without
 * Redis unavailable.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import type { StorageDriver } from '../../src/storage/driver.js';
import { startTestServer } from '../helpers/server.js';
import { scrape } from '../metrics/scrape.js';
import { startRedisServer } from '../redis/redis-server.js';
import { assertUnavailable, get, healthy, waitForReport } from './support.js';

const CHECK = 'storagedriver_filesystem';

/**
 * Replaces the storage root with a plain file. The health check's write probe recreates a
 * removed root (its put makes parent directories), so the removal and the file's creation are
 * retried until the file wins the race.
 */
async function replaceWithFile(root: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    await rm(root, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
    try {
      await writeFile(root, 'not a directory', { flag: 'wx' });
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'EEXIST' && code !== 'EISDIR') || attempt >= 50) throw error;
    }
  }
}

/** The real driver, failing every call while `state.broken` is set. */
function breakable(state: { broken: boolean; calls: number }): (driver: StorageDriver) => StorageDriver {
  return (driver) => {
    const guard =
      <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        state.calls++;
        if (state.broken) throw Object.assign(new Error('EIO: i/o error, stat'), { code: 'EIO' });
        return call(...args);
      };
    return {
      ...driver,
      name: driver.name,
      stat: guard(driver.stat.bind(driver)),
      putContent: guard(driver.putContent.bind(driver)),
      delete: guard(driver.delete.bind(driver)),
    };
  };
}

describe('health.storagedriver', () => {
  test('a failing driver makes the registry unavailable after threshold checks; it recovers', async () => {
    const state = { broken: false, calls: 0 };
    const server = await startTestServer(
      {
        http: { debug: { addr: '127.0.0.1:0', prometheus: { enabled: true } } },
        health: { storagedriver: { enabled: true, interval: '50ms', threshold: 2 } },
      },
      { wrapDriver: breakable(state) },
    );
    try {
      const debugUrl = server.debugUrl ?? '';
      await waitForReport(debugUrl, healthy);
      const metrics = await scrape(`${debugUrl}/metrics`);
      assert.equal(metrics.value('registry_health_check_failing', { check: CHECK }), 0);

      state.broken = true;
      const calls = state.calls;
      const { report } = await waitForReport(debugUrl, (s) => s === 503);
      assert.deepEqual(report, { [CHECK]: 'EIO: i/o error, stat' });
      assert.ok(state.calls - calls >= 2, 'threshold 2: two failed runs before it is reported');
      assertUnavailable(await get(`${server.url}/v2/`), 'GET /v2/');
      const failing = await scrape(`${debugUrl}/metrics`);
      assert.equal(failing.value('registry_health_check_failing', { check: CHECK }), 1);

      state.broken = false;
      await waitForReport(debugUrl, healthy);
      assert.equal((await get(`${server.url}/v2/`)).status, 200);
    } finally {
      await server.close();
    }
  });

  test('a storage root that no longer accepts writes is reported, even though it can be read', async () => {
    const server = await startTestServer({
      http: { debug: { addr: '127.0.0.1:0' } },
      health: { storagedriver: { enabled: true, interval: '50ms', threshold: 1 } },
    });
    try {
      const debugUrl = server.debugUrl ?? '';
      await waitForReport(debugUrl, healthy);
      await replaceWithFile(server.rootDir);
      // A run caught halfway by the removal fails otherwise (ENOENT); then every run fails alike.
      const { report } = await waitForReport(debugUrl, (s, r) => s === 503 && /ENOTDIR|EEXIST/.test(r[CHECK] ?? ''));
      assert.deepEqual(Object.keys(report), [CHECK]);
      assertUnavailable(await get(`${server.url}/v2/`), 'GET /v2/');

      await rm(server.rootDir, { force: true });
      await mkdir(server.rootDir);
      await waitForReport(debugUrl, healthy);
    } finally {
      await server.close();
    }
  });

  test('in read-only mode the check only reads, so a store refusing writes stays healthy', async () => {
    const server = await startTestServer({
      http: { debug: { addr: '127.0.0.1:0' } },
      storage: { maintenance: { readonly: { enabled: true } } },
      health: { storagedriver: { enabled: true, interval: '50ms' } },
    });
    try {
      await replaceWithFile(server.rootDir);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await waitForReport(server.debugUrl ?? '', healthy, 100);
    } finally {
      await server.close();
    }
  });
});

describe('Redis in the health report', () => {
  test('is reported while down, without making the registry unavailable', { timeout: 60_000 }, async () => {
    const redis = await startRedisServer();
    const server = await startTestServer({
      http: { debug: { addr: '127.0.0.1:0', prometheus: { enabled: true } } },
      storage: { cache: { blobdescriptor: 'redis' } },
      redis: { addr: redis.addr },
    });
    try {
      const debugUrl = server.debugUrl ?? '';
      await waitForReport(debugUrl, healthy, 15_000);
      assert.equal((await scrape(`${debugUrl}/metrics`)).value('registry_redis_up'), 1);

      await redis.stop();
      const { status, report } = await waitForReport(debugUrl, (_, r) => 'redis' in r, 15_000);
      assert.equal(status, 200, 'Redis is not needed to serve');
      assert.match(report['redis'] ?? '', new RegExp(`^${redis.addr}: down since `));
      assert.equal((await get(`${server.url}/v2/`)).status, 200);
      assert.equal((await scrape(`${debugUrl}/metrics`)).value('registry_redis_up'), 0);

      await redis.restart();
      await waitForReport(debugUrl, healthy, 20_000);
    } finally {
      await server.close();
      await redis.stop();
    }
  });
});
