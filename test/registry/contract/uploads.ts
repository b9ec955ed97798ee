/** Upload sessions: monolithic, chunked, ranges, lengths, replicas, digests, cancel. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UploadRangeError } from '../../../src/registry/errors.js';
import { parseUploadId } from '../../../src/registry/names.js';
import {
  chunked,
  content,
  EMPTY_SHA256,
  name,
  readAll,
  rejectsWithCode,
  sha256Digest,
  sha512Digest,
  type WithEnv,
} from '../fixtures.js';

export function uploadsSuite(withEnv: WithEnv): void {
  describe('uploads', () => {
    it('commits a monolithic upload and serves the exact bytes', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('library/alpine'));
        const data = content(200_000);
        const session = await repo.uploads().create();
        assert.equal(session.size, 0);
        assert.equal(
          await session.append(chunked(data, 65_536), { offset: 0, expectedLength: data.length }),
          data.length,
        );
        const descriptor = await session.commit(sha256Digest(data), { size: data.length });
        assert.deepEqual(descriptor, {
          mediaType: 'application/octet-stream',
          digest: sha256Digest(data),
          size: data.length,
        });
        const opened = await repo.blobs().open(descriptor.digest);
        assert.deepEqual(await readAll(opened.stream), data);
        await rejectsWithCode(repo.uploads().resume(session.id), 'BLOB_UPLOAD_UNKNOWN');
      }));

    it('appends chunks in order across resumes and rejects an out-of-order chunk', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('chunked'));
        const data = content(10_000, 2);
        const session = await repo.uploads().create();
        assert.equal(await session.append(chunked(data.subarray(0, 4000)), { offset: 0 }), 4000);
        const resumed = await repo.uploads().resume(session.id);
        assert.equal(resumed.size, 4000);
        assert.equal(resumed.startedAt.getTime(), session.startedAt.getTime());
        await assert.rejects(resumed.append(chunked(data.subarray(6000)), { offset: 6000 }), (error: unknown) => {
          assert.ok(error instanceof UploadRangeError);
          assert.equal(error.currentSize, 4000);
          return true;
        });
        assert.equal(await resumed.append(chunked(data.subarray(4000, 9000)), { offset: 4000 }), 9000);
        assert.equal(await resumed.append(chunked(data.subarray(9000))), 10_000);
        const descriptor = await resumed.commit(sha256Digest(data));
        assert.deepEqual(await readAll((await repo.blobs().open(descriptor.digest)).stream), data);
      }));

    it('leaves the session at its previous size when a chunk is longer or shorter than announced', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('lengths'));
        const data = content(3000, 3);
        const session = await repo.uploads().create();
        await session.append(chunked(data.subarray(0, 1000)), { expectedLength: 1000 });
        await rejectsWithCode(
          session.append(chunked(data.subarray(1000, 2500)), { offset: 1000, expectedLength: 1000 }),
          'SIZE_INVALID',
        );
        assert.equal((await repo.uploads().resume(session.id)).size, 1000);
        await rejectsWithCode(
          session.append(chunked(data.subarray(1000, 1500)), { offset: 1000, expectedLength: 2000 }),
          'SIZE_INVALID',
        );
        const resumed = await repo.uploads().resume(session.id);
        assert.equal(resumed.size, 1000);
        // The session stays usable and its hash unpolluted by the failed chunks.
        await resumed.append(chunked(data.subarray(1000)), { offset: 1000, expectedLength: 2000 });
        const descriptor = await resumed.commit(sha256Digest(data));
        assert.deepEqual(await readAll((await repo.blobs().open(descriptor.digest)).stream), data);
      }));

    it('a first chunk that fails leaves an empty session', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('firstfail'));
        const session = await repo.uploads().create();
        await rejectsWithCode(session.append(chunked(content(50)), { expectedLength: 10 }), 'SIZE_INVALID');
        assert.equal((await repo.uploads().resume(session.id)).size, 0);
      }));

    it('continues hashing correctly when sessions move between replicas', () =>
      withEnv(async ({ registry, replica }) => {
        const data = content(60_000, 4);
        const parts = [0, 20_000, 35_000, 50_000, 60_000];
        const a = registry.repository(name('replicated'));
        const b = replica().repository(name('replicated'));
        const session = await a.uploads().create();
        // A and B take turns, so each in turn holds a running hash that is behind storage.
        for (let i = 0; i < 4; i++) {
          const repo = i % 2 === 0 ? a : b;
          const resumed = await repo.uploads().resume(session.id);
          assert.equal(resumed.size, parts[i]);
          await resumed.append(chunked(data.subarray(parts[i], parts[i + 1]), 4096), { offset: parts[i]! });
        }
        // B commits with its own running hash; a digest error here means a replica hashed wrongly.
        const descriptor = await (await b.uploads().resume(session.id)).commit(sha256Digest(data));
        assert.equal(descriptor.size, data.length);
        assert.deepEqual(await readAll((await a.blobs().open(descriptor.digest)).stream), data);
      }));

    it('a replica with no hash state commits by re-reading the data', () =>
      withEnv(async ({ registry, replica }) => {
        const data = content(30_000, 5);
        const session = await registry.repository(name('cold')).uploads().create();
        await session.append(chunked(data, 4096));
        const cold = await replica().repository(name('cold')).uploads().resume(session.id);
        assert.equal((await cold.commit(sha256Digest(data))).size, data.length);
      }));

    it('stores nothing and ends the session on a digest mismatch', () =>
      withEnv(async ({ registry, driver }) => {
        const repo = registry.repository(name('mismatch'));
        const data = content(1000, 5);
        const wrong = sha256Digest(content(1000, 6));
        const session = await repo.uploads().create();
        await session.append(chunked(data));
        await rejectsWithCode(session.commit(wrong), 'DIGEST_INVALID');
        await rejectsWithCode(repo.blobs().stat(wrong), 'BLOB_UNKNOWN');
        await rejectsWithCode(repo.blobs().stat(sha256Digest(data)), 'BLOB_UNKNOWN');
        await rejectsWithCode(repo.uploads().resume(session.id), 'BLOB_UPLOAD_UNKNOWN');
        const stored = [];
        for await (const info of driver.walk('/docker/registry/v2/blobs')) if (!info.isDir) stored.push(info.path);
        assert.deepEqual(stored, []);
      }));

    it('rejects a commit whose announced size differs', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('badsize'));
        const data = content(100, 7);
        const session = await repo.uploads().create();
        await session.append(chunked(data));
        await rejectsWithCode(session.commit(sha256Digest(data), { size: 99 }), 'SIZE_INVALID');
        await rejectsWithCode(repo.blobs().stat(sha256Digest(data)), 'BLOB_UNKNOWN');
      }));

    it('verifies sha512 digests', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('sha512'));
        const data = content(5000, 8);
        const session = await repo.uploads().create();
        await session.append(chunked(data, 999));
        const digest = sha512Digest(data);
        const descriptor = await session.commit(digest);
        assert.equal(descriptor.digest, digest);
        assert.equal((await repo.blobs().stat(digest)).size, 5000);
        assert.deepEqual(await readAll((await repo.blobs().open(digest)).stream), data);
      }));

    it('commits a zero-byte blob with no data written', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('empty'));
        const session = await repo.uploads().create();
        const descriptor = await session.commit(EMPTY_SHA256, { size: 0 });
        assert.equal(descriptor.size, 0);
        assert.equal((await repo.blobs().stat(EMPTY_SHA256)).size, 0);
        assert.deepEqual(await readAll((await repo.blobs().open(EMPTY_SHA256)).stream), Buffer.alloc(0));
      }));

    it('commits a zero-byte chunk as the empty blob', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('empty'));
        const session = await repo.uploads().create();
        assert.equal(await session.append(chunked(Buffer.alloc(0)), { expectedLength: 0 }), 0);
        assert.equal((await session.commit(EMPTY_SHA256)).digest, EMPTY_SHA256);
      }));

    it('cancel removes the session and its data', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('cancelled'));
        const data = content(500, 9);
        const session = await repo.uploads().create();
        await session.append(chunked(data));
        await session.cancel();
        await rejectsWithCode(repo.uploads().resume(session.id), 'BLOB_UPLOAD_UNKNOWN');
        await rejectsWithCode(repo.blobs().stat(sha256Digest(data)), 'BLOB_UNKNOWN');
      }));

    it('resuming an unknown session fails', () =>
      withEnv(async ({ registry }) => {
        const repo = registry.repository(name('nosession'));
        await rejectsWithCode(
          repo.uploads().resume(parseUploadId('0b5a3a6c-5d6e-4c1b-9a57-000000000000')),
          'BLOB_UPLOAD_UNKNOWN',
        );
      }));

    it('links an already stored blob without rewriting it', () =>
      withEnv(async ({ registry }) => {
        const data = content(700, 10);
        const a = registry.repository(name('first'));
        const b = registry.repository(name('second'));
        for (const repo of [a, b]) {
          const session = await repo.uploads().create();
          await session.append(chunked(data));
          await session.commit(sha256Digest(data));
        }
        assert.equal((await b.blobs().stat(sha256Digest(data))).size, 700);
      }));
  });
}
