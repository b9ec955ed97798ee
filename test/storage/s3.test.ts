/**
 * The s3 driver against a real S3 server (a throwaway Ceph RADOS Gateway): the shared driver
 * contract, distribution's key layout, multipart writers whose appends and moves copy
 * server-side (counted on the wire), paginated listings and batched deletes, and presigned
 * redirects fetched for real.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { StorageDriver } from '../../src/storage/driver.js';
import { createS3Driver } from '../../src/storage/drivers/s3.js';
import { parseS3Parameters, type S3DriverOptions } from '../../src/storage/drivers/s3-config.js';
import { PathNotFoundError } from '../../src/storage/errors.js';
import { startCountingProxy, useCephRgw } from '../helpers/ceph-rgw.js';
import { bytes, collect, readAll, walkPaths } from './contract/harness.js';
import { runDriverContract } from './driver-contract.js';

const MIB = 1024 * 1024;
/** Request headers and XML of a few S3 calls: far below any object the tests write. */
const METADATA_BYTES = 64 * 1024;

let contractBucket: string;
const rgw = useCephRgw(async (gateway) => {
  contractBucket = await gateway.createBucket('contract');
});

function driverFor(
  bucket: string,
  rootdirectory?: string,
  extra: Partial<S3DriverOptions> = {},
  endpoint?: string,
): StorageDriver {
  const parameters = rgw().parameters(bucket, rootdirectory);
  if (endpoint !== undefined) parameters['regionendpoint'] = endpoint;
  return createS3Driver({ ...parseS3Parameters({ ...parameters, chunksize: 5 * MIB }), ...extra });
}

async function emptyPrefix(bucket: string, prefix: string): Promise<void> {
  const keys = await rgw().listKeys(bucket, prefix);
  for (let i = 0; i < keys.length; i += 1000) {
    await rgw().client.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
      }),
    );
  }
}

async function openUploads(bucket: string): Promise<number> {
  const answer = await rgw().client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return answer.Uploads?.length ?? 0;
}

function pattern(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >>> 11)) & 0xff;
  return out;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

const contractRoots = new WeakMap<StorageDriver, string>();
let contractCounter = 0;

runDriverContract(
  's3',
  () => {
    contractCounter++;
    const root = `berth/contract-${contractCounter}`;
    const driver = driverFor(contractBucket, `/${root}/`);
    contractRoots.set(driver, root);
    return driver;
  },
  async (driver) => {
    const root = contractRoots.get(driver);
    if (root !== undefined) await emptyPrefix(contractBucket, `${root}/`);
  },
);

describe('s3 driver', () => {
  it('uses distribution key layout: rootdirectory prefix + path without its leading slash', async () => {
    const bucket = await rgw().createBucket('layout');
    const link = '/docker/registry/v2/repositories/library/alpine/_manifests/tags/latest/current/link';
    await driverFor(bucket, '/registry').putContent(link, bytes('sha256:x'));
    await driverFor(bucket).putContent('/top/file', bytes('y'));
    assert.deepEqual((await rgw().listKeys(bucket)).sort(), [
      'registry/docker/registry/v2/repositories/library/alpine/_manifests/tags/latest/current/link',
      'top/file',
    ]);
    // An object written by another client under the same layout reads back through the driver.
    await rgw().client.send(new PutObjectCommand({ Bucket: bucket, Key: 'registry/written/elsewhere', Body: 'z' }));
    const rooted = driverFor(bucket, 'registry/');
    assert.equal((await rooted.getContent('/written/elsewhere')).toString(), 'z');
    assert.deepEqual(await rooted.list('/'), ['/docker', '/written']);
    assert.deepEqual(await driverFor(bucket).list('/'), ['/registry', '/top']);
  });

  it('maps a writer to a multipart upload of chunksize parts', async () => {
    const bucket = await rgw().createBucket('multipart');
    const driver = driverFor(bucket, '/r');
    const data = pattern(12 * MIB, 1);
    const writer = await driver.writer('/up/data');
    const chunks = Array.from({ length: 12 }, (_, i) => data.subarray(i * MIB, (i + 1) * MIB));
    assert.equal(await writer.write(chunks), data.length);
    assert.equal(await openUploads(bucket), 1, 'parts go out while the writer is open');
    await assert.rejects(driver.stat('/up/data'), PathNotFoundError);
    await writer.commit();
    assert.equal(await openUploads(bucket), 0);
    const head = await rgw().client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'r/up/data' }));
    assert.match(head.ETag ?? '', /-3"?$/, 'three parts: 5 + 5 + 2 MiB');
    assert.equal(sha256(await driver.getContent('/up/data')), sha256(data));
  });

  it('aborts the multipart upload when a writer is closed or cancelled', async () => {
    const bucket = await rgw().createBucket('abort');
    const driver = driverFor(bucket);
    for (const end of ['close', 'cancel'] as const) {
      const writer = await driver.writer(`/w/${end}`);
      await writer.write([pattern(6 * MIB, 2)]);
      assert.equal(await openUploads(bucket), 1);
      await writer[end]();
      assert.equal(await openUploads(bucket), 0, end);
      await assert.rejects(driver.stat(`/w/${end}`), PathNotFoundError);
    }
  });

  it('appends by copying the committed object server-side: its bytes are never sent again', async () => {
    const bucket = await rgw().createBucket('append');
    const proxy = await startCountingProxy(rgw().endpoint);
    try {
      const driver = driverFor(bucket, '/a', {}, proxy.endpoint);
      const first = pattern(6 * MIB, 3);
      const w1 = await driver.writer('/up/data', { append: true });
      await w1.write([first]);
      await w1.commit();

      const before = proxy.sent;
      const second = bytes('the next chunk');
      const w2 = await driver.writer('/up/data', { append: true });
      assert.equal(w2.size, first.length);
      await w2.write([second]);
      await w2.commit();
      const sent = proxy.sent - before;
      assert.ok(sent < METADATA_BYTES, `appending ${second.length} bytes sent ${sent} bytes`);
      assert.equal(sha256(await driver.getContent('/up/data')), sha256(Buffer.concat([first, second])));
      assert.equal(await openUploads(bucket), 0);
    } finally {
      await proxy.close();
    }
  });

  it('reads a small committed object back to append to it (below the 5 MiB part minimum)', async () => {
    const driver = driverFor(await rgw().createBucket('small'));
    const parts = [pattern(MIB, 4), pattern(3 * MIB, 5), pattern(2 * MIB, 6), bytes('tail')];
    for (const part of parts) {
      const writer = await driver.writer('/s/data', { append: true });
      await writer.write([part]);
      await writer.commit();
    }
    const expected = Buffer.concat(parts);
    assert.equal((await driver.stat('/s/data')).size, expected.length);
    assert.equal(sha256(await driver.getContent('/s/data')), sha256(expected));
    const range = await readAll(await driver.reader('/s/data', { offset: 4 * MIB - 10, length: 20 }));
    assert.deepEqual(range, expected.subarray(4 * MIB - 10, 4 * MIB + 10));
  });

  it('moves large objects with a multipart server-side copy', async () => {
    const bucket = await rgw().createBucket('move');
    const proxy = await startCountingProxy(rgw().endpoint);
    try {
      const driver = driverFor(
        bucket,
        '/m',
        { multipartCopyThresholdSize: 5 * MIB, multipartCopyChunkSize: 5 * MIB, multipartCopyMaxConcurrency: 2 },
        proxy.endpoint,
      );
      const data = pattern(12 * MIB, 7);
      await driver.putContent('/_uploads/u1/data', data);
      const before = proxy.sent;
      await driver.move('/_uploads/u1/data', '/blobs/sha256/ab/abcd/data');
      const sent = proxy.sent - before;
      assert.ok(sent < METADATA_BYTES, `moving ${data.length} bytes sent ${sent} bytes`);
      assert.deepEqual(await rgw().listKeys(bucket), ['m/blobs/sha256/ab/abcd/data']);
      const head = await rgw().client.send(
        new HeadObjectCommand({ Bucket: bucket, Key: 'm/blobs/sha256/ab/abcd/data' }),
      );
      assert.match(head.ETag ?? '', /-3"?$/, 'copied in three parts');
      assert.equal(sha256(await driver.getContent('/blobs/sha256/ab/abcd/data')), sha256(data));
      // A small move is one CopyObject.
      await driver.putContent('/small', bytes('s'));
      await driver.move('/small', '/moved/small');
      assert.equal((await driver.getContent('/moved/small')).toString(), 's');
      await assert.rejects(driver.move('/small', '/elsewhere'), PathNotFoundError);
    } finally {
      await proxy.close();
    }
  });

  it('paginates listings and walks, and deletes trees in batches of 1000', { timeout: 120_000 }, async () => {
    const bucket = await rgw().createBucket('many');
    const driver = driverFor(bucket, '/p');
    const names = Array.from({ length: 1010 }, (_, i) => `f${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((name) => driver.putContent(`/d/${name}`, bytes(name))));
    }
    await driver.putContent('/d-sibling/x', bytes('x'));
    const listed = await driver.list('/d');
    assert.equal(listed.length, names.length);
    assert.deepEqual(
      listed,
      names.map((name) => `/d/${name}`),
    );
    const walked = await walkPaths(driver, '/');
    assert.deepEqual(walked, ['/d', ...names.map((name) => `/d/${name}`), '/d-sibling', '/d-sibling/x']);
    const resumed = await walkPaths(driver, '/', { startAfter: '/d/f1000' });
    assert.deepEqual(resumed, ['/d/f1001', ...names.slice(1002).map((n) => `/d/${n}`), '/d-sibling', '/d-sibling/x']);
    await driver.delete('/d');
    assert.deepEqual(await rgw().listKeys(bucket), ['p/d-sibling/x']);
  });

  it('answers redirects with presigned GET and HEAD URLs valid for 20 minutes', async () => {
    const bucket = await rgw().createBucket('presign');
    const driver = driverFor(bucket, '/r');
    await driver.putContent('/blobs/data', bytes('served by the object store'));
    const url = await driver.redirectURL?.('/blobs/data', 'GET');
    assert.ok(url !== undefined);
    const parsed = new URL(url);
    assert.equal(`${parsed.origin}${parsed.pathname}`, `${rgw().endpoint}/${bucket}/r/blobs/data`);
    assert.equal(parsed.searchParams.get('X-Amz-Expires'), '1200');
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'served by the object store');

    const headURL = await driver.redirectURL?.('/blobs/data', 'HEAD');
    assert.ok(headURL !== undefined);
    const head = await fetch(headURL, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '26');

    // Without the signature, or with a forged one, the store refuses.
    const unsigned = await fetch(`${parsed.origin}${parsed.pathname}`);
    assert.equal(unsigned.status, 403);
    await unsigned.arrayBuffer();
    parsed.searchParams.set('X-Amz-Expires', '99999');
    const forged = await fetch(parsed);
    assert.equal(forged.status, 403);
    await forged.arrayBuffer();
  });

  it('reports a missing bucket as an error, not as an empty store', async () => {
    const driver = driverFor('no-such-bucket-here');
    const notAbsent = (error: unknown): boolean => !(error instanceof PathNotFoundError);
    await assert.rejects(driver.getContent('/x'), notAbsent);
    await assert.rejects(driver.list('/'), notAbsent);
    await assert.rejects(collect(driver.walk('/')), notAbsent);
    await assert.rejects(driver.putContent('/x', bytes('x')), notAbsent);
  });
});
