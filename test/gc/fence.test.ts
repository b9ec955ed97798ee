/**
 * The fence's handshake, the lease, the reference reader and the configuration keys, on the
 * in-memory driver: fast checks of what the online proof (online.test.ts) relies on.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import {
  createDeletionGuard,
  createLinkFence,
  fenceEntryName,
  INTENT_TTL_MS,
  pruneFenceEntries,
} from '../../src/gc/fence.js';
import { createStorageLease } from '../../src/gc/lease.js';
import { manifestReferences, UnreadableManifestError } from '../../src/gc/references.js';
import { type Digest, parseDigest } from '../../src/registry/names.js';
import { GC_BLOBS_ROOT, gcBlobDir, gcBlobEntryPath } from '../../src/registry/paths.js';
import { createInMemoryDriver } from '../../src/storage/drivers/inmemory.js';
import { digestOf } from './fixtures.js';

const digest = (text: string): Digest => parseDigest(digestOf(text));

describe('gc fence', () => {
  test('a collector keeps a blob a writer linked since the run began, and deletes one linked before', async () => {
    const driver = createInMemoryDriver();
    const fence = createLinkFence({ driver, graceMs: 60_000 });
    const guard = createDeletionGuard(driver);
    const d = digest('a');
    let removed = 0;
    const remove = async (): Promise<void> => {
      removed += 1;
    };
    await fence.protect([d]);
    assert.equal(await guard.run(d, Date.now() - 60_000, remove), false);
    assert.equal(removed, 0);
    assert.equal(await guard.run(d, Date.now() + 1, remove), true);
    assert.equal(removed, 1);
    // The collector's own entry is gone afterwards; only the writer's remains.
    assert.deepEqual((await driver.list(gcBlobDir(d))).length, 1);
  });

  test('a writer waits while a collector is deleting, and re-uses a recent entry of its own', async () => {
    const driver = createInMemoryDriver();
    const fence = createLinkFence({ driver, graceMs: 60_000, pollMs: 5 });
    const guard = createDeletionGuard(driver);
    const d = digest('b');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let deleted = false;
    const collecting = guard.run(d, Date.now() + 1, async () => {
      await gate;
      deleted = true;
    });
    await sleep(20);
    let protectedAt: boolean | undefined;
    const protecting = fence.protect([d]).then(() => {
      protectedAt = deleted;
    });
    await sleep(50);
    assert.equal(protectedAt, undefined, 'the writer is still waiting');
    release();
    await Promise.all([collecting, protecting]);
    assert.equal(protectedAt, true, 'the writer went on only after the deletion finished');
    const entries = await driver.list(gcBlobDir(d));
    await fence.protect([d]);
    assert.deepEqual(await driver.list(gcBlobDir(d)), entries, 'a fresh entry is re-used, not rewritten');
  });

  test('writers ignore a dead collector’s entry; tokens go stale after half the grace period; pruning', async () => {
    const driver = createInMemoryDriver();
    const d = digest('c');
    const dead = Date.now() - INTENT_TTL_MS - 1000;
    await driver.putContent(gcBlobEntryPath(d, fenceEntryName('deleting', dead, 'gone')), new Uint8Array(0));
    await driver.putContent(gcBlobEntryPath(d, fenceEntryName('linked', dead, 'old')), new Uint8Array(0));
    const token = await createLinkFence({ driver, graceMs: 100 }).protect([d]);
    assert.equal(token.fresh(), true);
    await sleep(60);
    assert.equal(token.fresh(), false);
    assert.equal(await pruneFenceEntries(driver, GC_BLOBS_ROOT, Date.now() - 10_000), 2);
    assert.equal((await driver.list(gcBlobDir(d))).length, 1);
  });
});

describe('gc lease', () => {
  test('one holder at a time; renewals; expiry; release', async () => {
    const driver = createInMemoryDriver();
    const a = createStorageLease({ driver, owner: 'a', settleMs: 1 });
    const b = createStorageLease({ driver, owner: 'b', settleMs: 1 });
    assert.equal(await a.acquire(60_000), true);
    assert.equal(await b.acquire(60_000), false);
    assert.equal(await a.acquire(60_000), true);
    await a.release();
    assert.equal(await b.acquire(20), true);
    await sleep(40);
    assert.equal(await a.acquire(60_000), true, 'an expired lease is taken over');
    await b.release();
    assert.equal(await b.acquire(60_000), false, 'releasing a lease one lost leaves it alone');
  });
});

describe('gc references', () => {
  const d = (c: string) => `sha256:${c.repeat(64)}`;
  test('reads OCI/Docker manifests, indexes, schema1, artifact blobs and subjects', () => {
    const refs = manifestReferences(
      'x',
      Buffer.from(
        JSON.stringify({
          config: { digest: d('a') },
          layers: [{ digest: d('b'), urls: ['https://example.com'] }],
          blobs: [{ digest: d('c') }],
          fsLayers: [{ blobSum: d('d') }],
          manifests: [{ digest: d('e') }],
          subject: { digest: d('f') },
        }),
      ),
    );
    assert.deepEqual(refs, { blobs: [d('a'), d('b'), d('c'), d('d')], manifests: [d('e')], subject: d('f') });
    assert.throws(() => manifestReferences('x', Buffer.from('not json')), UnreadableManifestError);
  });
});

describe('storage.maintenance.gc configuration', () => {
  const MINIMAL = 'version: 0.1\nstorage:\n  inmemory:\n';
  test('defaults, REGISTRY_* overrides and validation', () => {
    assert.deepEqual(parseConfig(MINIMAL).config.storage.maintenance.gc, {
      enabled: false,
      interval: 3_600_000,
      graceperiod: 3_600_000,
    });
    const { config, notSupportedYet } = parseConfig(MINIMAL, {
      env: {
        REGISTRY_STORAGE_MAINTENANCE_GC_ENABLED: 'true',
        REGISTRY_STORAGE_MAINTENANCE_GC_INTERVAL: '10m',
        REGISTRY_STORAGE_MAINTENANCE_GC_GRACEPERIOD: '2h',
        REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE: '1h',
      },
    });
    assert.deepEqual(config.storage.maintenance.gc, { enabled: true, interval: 600_000, graceperiod: 7_200_000 });
    assert.equal(config.storage.maintenance.uploadpurging.age, 3_600_000);
    assert.deepEqual(notSupportedYet, []);
    assert.throws(
      () => parseConfig(`${MINIMAL}  maintenance:\n    gc:\n      graceperiod: 0s\n`),
      (error: unknown) => error instanceof ConfigError && /storage\.maintenance\.gc\.graceperiod/.test(error.message),
    );
  });
});
