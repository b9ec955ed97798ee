/**
 * Upload purging (`storage.maintenance.uploadpurging`): abandoned sessions go, recent ones stay,
 * a dry run only reports, the running server purges on schedule and logs it, and read-only mode
 * pauses it.
 */
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { purgeUploads } from '../../src/gc/purge.js';
import { createFilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { startTestServer } from '../helpers/server.js';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Writes `_uploads/<id>/` with an optional `startedat` in distribution's format. */
async function writeSession(rootDir: string, repo: string, id: string, startedAt: Date | undefined): Promise<string> {
  const dir = join(rootDir, 'docker/registry/v2/repositories', repo, '_uploads', id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'data'), 'partial');
  if (startedAt !== undefined) await writeFile(join(dir, 'startedat'), startedAt.toISOString().replace(/\.\d+Z$/, 'Z'));
  return dir;
}

function collectingLogger() {
  const lines: Array<{ msg: string } & Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('upload purging', () => {
  test('removes sessions older than the age and stale ones without startedat; a dry run only reports', async () => {
    const rootDir = await mkdtemp(join(tmpdir(), 'berth-purge-'));
    try {
      const now = Date.now();
      const old = await writeSession(rootDir, 'p/app', 'old-1', new Date(now - 3_600_000));
      const fresh = await writeSession(rootDir, 'p/app', 'fresh-1', new Date(now - 1_000));
      const nested = await writeSession(rootDir, 'p/deep/name', 'old-2', new Date(now - 7_200_000));
      const orphan = await writeSession(rootDir, 'p/app', 'no-startedat-old', undefined);
      const past = new Date(now - 120_000);
      await utimes(orphan, past, past);
      const young = await writeSession(rootDir, 'p/app', 'no-startedat-young', undefined);
      const driver = createFilesystemDriver({ rootdirectory: rootDir });

      const dry = await purgeUploads(driver, { ageMs: 600_000, dryRun: true });
      assert.equal(dry.scanned, 5);
      assert.deepEqual(dry.removed.map((u) => `${u.repository}/${u.id}`).sort(), [
        'p/app/no-startedat-old',
        'p/app/old-1',
        'p/deep/name/old-2',
      ]);
      for (const dir of [old, fresh, nested, orphan, young]) assert.ok(await exists(dir), dir);

      const real = await purgeUploads(driver, { ageMs: 600_000 });
      assert.equal(real.removed.length, 3);
      assert.equal(await exists(old), false);
      assert.equal(await exists(nested), false);
      assert.equal(await exists(orphan), false);
      assert.ok(await exists(fresh));
      assert.ok(await exists(young));
      // Layers and manifests are never looked at, let alone touched.
      assert.equal((await purgeUploads(driver, { ageMs: 600_000 })).removed.length, 0);
    } finally {
      await rm(rootDir, { recursive: true, force: true });
    }
  });

  test('the server purges abandoned uploads on schedule and logs each', { timeout: 60_000 }, async () => {
    const { logger, lines } = collectingLogger();
    const server = await startTestServer(
      { storage: { maintenance: { uploadpurging: { enabled: true, age: '1s', interval: '100ms' } } } },
      { logger },
    );
    try {
      const res = await fetch(`${server.url}/v2/purge/app/blobs/uploads/`, { method: 'POST' });
      await res.arrayBuffer();
      assert.equal(res.status, 202);
      const id = res.headers.get('docker-upload-uuid');
      assert.ok(id);
      const dir = join(server.registryRoot, 'repositories/purge/app/_uploads', id);
      assert.ok(await exists(dir));
      const deadline = Date.now() + 20_000;
      while ((await exists(dir)) && Date.now() < deadline) await sleep(100);
      assert.equal(await exists(dir), false, 'the abandoned session was purged');
      const location = res.headers.get('location');
      assert.ok(location);
      const status = await fetch(new URL(location, server.url));
      await status.arrayBuffer();
      assert.equal(status.status, 404);
      // The run logs each removal as it goes and its summary once done: the directory may vanish first.
      const logged = () =>
        lines.some((l) => l.msg === 'upload purge: removed an abandoned upload' && l['uuid'] === id) &&
        lines.some((l) => l.msg.startsWith('upload purge finished'));
      const logDeadline = Date.now() + 10_000;
      while (!logged() && Date.now() < logDeadline) await sleep(50);
      assert.ok(logged(), 'the removal and the finished run are logged');
    } finally {
      await server.close();
    }
  });

  test('read-only mode pauses purging and collection', { timeout: 30_000 }, async () => {
    const { logger, lines } = collectingLogger();
    const rootDir = await mkdtemp(join(tmpdir(), 'berth-purge-ro-'));
    const dir = await writeSession(rootDir, 'ro/app', 'old-1', new Date(Date.now() - 3_600_000));
    const server = await startTestServer(
      {
        storage: {
          filesystem: { rootdirectory: rootDir },
          maintenance: {
            readonly: { enabled: true },
            uploadpurging: { enabled: true, age: '1s', interval: '50ms' },
            gc: { enabled: true, interval: '50ms', graceperiod: '1s' },
          },
        },
      },
      { logger },
    );
    try {
      await sleep(1000);
      assert.ok(await exists(dir), 'nothing is purged while read-only');
      assert.ok(lines.some((l) => l.msg === 'read-only mode: upload purging and garbage collection are paused'));
      assert.ok(!lines.some((l) => String(l.msg).startsWith('upload purge')));
    } finally {
      await server.close();
      await rm(rootDir, { recursive: true, force: true });
    }
  });
});
