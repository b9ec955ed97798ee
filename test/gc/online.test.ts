/**
 * The proof of online garbage collection: clients push and delete images while collections run
 * back to back (grace period 1 s), re-using old layers the way real clients do — skipping the
 * upload after a HEAD, mounting from another repository, or uploading bytes the registry already
 * has — exactly when those layers are unreferenced and old enough to be collected. Afterwards
 * every image whose push was accepted and that was not deleted must pull completely. Without
 * the fence (gc/fence.ts) this fails: a collection deletes a layer a manifest was just pushed with.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { CollectResult } from '../../src/gc/collect.js';
import { createStorageLease } from '../../src/gc/lease.js';
import { runOnlineCollection } from '../../src/gc/online.js';
import { createMemoryDescriptorCache } from '../../src/registry/descriptor-cache.js';
import { BLOBS_ROOT } from '../../src/registry/paths.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { createFilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, putManifest } from '../helpers/http.js';
import { startTestServer } from '../helpers/server.js';
import { type Blob, digestOf, makeBlob, makeConfig, pullCompletely } from './fixtures.js';

const WORKERS = 8;
const CHURN_MS = 8_000;

interface Live {
  repo: string;
  tag: string;
  digest: string;
}

interface Stats {
  pushed: number;
  refused: number;
  deleted: number;
  skippedUploads: number;
  mounts: number;
  verified: number;
}

async function upload(base: string, repo: string, blob: Blob): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: blob.bytes,
  });
  await res.arrayBuffer();
  assert.equal(res.status, 201, `upload ${blob.digest} to ${repo}`);
}

/** Makes `blob` available in `repo` the way a client picks: HEAD-and-skip, mount, or upload. */
async function provide(base: string, repo: string, blob: Blob, sources: string[], stats: Stats): Promise<void> {
  const way = randomInt(3);
  if (way === 0) {
    const head = await fetch(`${base}/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' });
    if (head.status === 200) {
      stats.skippedUploads += 1;
      return;
    }
  } else if (way === 1) {
    const from = sources[randomInt(sources.length)]!;
    const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?mount=${blob.digest}&from=${from}`, { method: 'POST' });
    await res.arrayBuffer();
    if (res.status === 201) {
      stats.mounts += 1;
      return;
    }
    assert.equal(res.status, 202);
    const location = res.headers.get('location');
    assert.ok(location);
    await (await fetch(new URL(location, base), { method: 'DELETE' })).arrayBuffer();
  }
  await upload(base, repo, blob);
}

/**
 * One client: each round deletes its current image, which leaves its base layer unreferenced
 * (no other client uses it), then pushes a new image on the same base — re-using the old blob by
 * HEAD-and-skip, by a mount from its source repository, or by uploading it again. The base is
 * then exactly what a collection that marked in between wants to delete.
 */
async function worker(base: string, index: number, deadline: number, stats: Stats): Promise<Live[]> {
  const repo = `online/w${index}`;
  const source = `online/w${index}-src`;
  const layer = makeBlob(1024);
  await upload(base, source, layer);
  let current: Live | undefined;
  let n = 0;
  while (Date.now() < deadline) {
    n += 1;
    if (current !== undefined) {
      // Every accepted image stays complete until its owner deletes it, whatever ran meanwhile.
      await pullCompletely(base, repo, current.tag);
      stats.verified += 1;
      const del = await fetch(`${base}/v2/${repo}/manifests/${current.digest}`, { method: 'DELETE' });
      await del.arrayBuffer();
      assert.equal(del.status, 202);
      stats.deleted += 1;
      current = undefined;
    }
    await sleep(randomInt(30));
    const config = makeConfig();
    const own = makeBlob(128);
    await provide(base, repo, layer, [source], stats);
    await upload(base, repo, config);
    await upload(base, repo, own);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
        layers: [layer, own].map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
      }),
    );
    const tag = `t${n}`;
    const res = await putManifest(base, repo, tag, manifest, OCI_MANIFEST);
    const text = await res.text();
    if (res.status === 201) {
      stats.pushed += 1;
      current = { repo, tag, digest: digestOf(manifest) };
    } else {
      // The layer was collected before the manifest came: the registry refuses rather than accept a broken image.
      assert.ok(res.status === 400 || res.status === 404, text);
      assert.match(text, /MANIFEST_BLOB_UNKNOWN/);
      stats.refused += 1;
    }
  }
  return current === undefined ? [] : [current];
}

/**
 * A driver for the collector that pauses after marking, before it lists the blob store: the
 * window between reading a repository and deleting what it did not reference, which on a large
 * registry lasts minutes, made long enough here for many pushes to land in it.
 */
function withPauseBeforeSweep(driver: StorageDriver, pauseMs: number): StorageDriver {
  return {
    ...driver,
    name: driver.name,
    async list(path, opts) {
      if (path === BLOBS_ROOT) await sleep(pauseMs);
      return driver.list(path, opts);
    },
  };
}

describe('online garbage collection', () => {
  test('pushes, mounts and deletes during collection runs never lose a referenced blob', {
    timeout: 120_000,
  }, async (t) => {
    const rootDir = await mkdtemp(join(tmpdir(), 'berth-gc-online-'));
    // The server's writers announce their links (gc enabled); the collections run here, like
    // another replica's would, on a driver that widens the race window.
    const server = await startTestServer({
      storage: {
        filesystem: { rootdirectory: rootDir },
        delete: { enabled: true },
        maintenance: { gc: { enabled: true, interval: '24h', graceperiod: '1s' }, uploadpurging: { enabled: false } },
      },
    });
    const collector = {
      driver: withPauseBeforeSweep(createFilesystemDriver({ rootdirectory: rootDir }), 400),
      logger: pino({ level: 'silent' }),
      cache: createMemoryDescriptorCache(),
      graceMs: 1000,
      lease: createStorageLease({
        driver: createFilesystemDriver({ rootdirectory: rootDir }),
        owner: 'test',
        settleMs: 0,
      }),
    };
    const results: CollectResult[] = [];
    const collect = async (): Promise<void> => {
      const result = await runOnlineCollection(collector);
      assert.ok(result, 'the collector holds the lease');
      results.push(result);
    };
    try {
      const stats: Stats = { pushed: 0, refused: 0, deleted: 0, skippedUploads: 0, mounts: 0, verified: 0 };
      const deadline = Date.now() + CHURN_MS;
      let churning = true;
      const collecting = (async () => {
        while (churning) await collect();
      })();
      let lives: Live[][];
      try {
        lives = await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(server.url, i, deadline, stats)));
      } finally {
        churning = false;
        await collecting;
      }
      // Collect over the final state too, then pull everything that should exist.
      await collect();
      const live = lives.flat();
      for (const image of live) await pullCompletely(server.url, image.repo, image.tag);

      const deletedBlobs = results.reduce((sum, run) => sum + run.deletedBlobs, 0);
      const keptLinked = results.reduce((sum, run) => sum + run.keptLinked, 0);
      const summary = JSON.stringify({ ...stats, runs: results.length, deletedBlobs, keptLinked });
      t.diagnostic(summary);
      assert.ok(results.length >= 5, `collections ran: ${summary}`);
      // The race did happen: collections found blobs they would have deleted but for the fence.
      assert.ok(keptLinked > 0, `the fence kept blobs: ${summary}`);
      assert.ok(deletedBlobs > 20, `collections deleted garbage: ${summary}`);
      assert.ok(stats.pushed > 20 && stats.deleted > 10, summary);
      assert.ok(stats.skippedUploads > 0 && stats.mounts > 0, summary);
      assert.ok(stats.refused <= stats.pushed / 10, `few pushes refused: ${summary}`);
    } finally {
      await server.close();
      await rm(rootDir, { recursive: true, force: true });
    }
  });
});
