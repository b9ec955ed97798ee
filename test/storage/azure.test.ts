/**
 * The azure driver against Azurite: the shared driver contract, distribution's key layout,
 * block-list appends that never re-upload, server-side moves, SAS redirects fetched for real,
 * and parameter checking.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { StorageDriver } from '../../src/storage/driver.js';
import { createAzureDriver } from '../../src/storage/drivers/azure.js';
import { type AzureDriverOptions, parseAzureParameters } from '../../src/storage/drivers/azure-config.js';
import { PathNotFoundError } from '../../src/storage/errors.js';
import { type Azurite, startAzurite } from '../helpers/azurite.js';
import { startUpload, withDigest } from '../helpers/http.js';
import { type BuiltImage, createOciLayout, readOciLayout } from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { skopeo } from '../helpers/tools.js';
import { bytes, readAll, walkPaths } from './contract/harness.js';
import { runDriverContract } from './driver-contract.js';

let azurite: Azurite;
let service: BlobServiceClient;
const containers = new WeakMap<StorageDriver, string>();

before(async () => {
  azurite = await startAzurite();
  service = new BlobServiceClient(
    azurite.serviceURL,
    new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
  );
});

after(async () => {
  await azurite?.stop();
});

function driverFor(container: string, rootdirectory?: string, extra: Partial<AzureDriverOptions> = {}): StorageDriver {
  const driver = createAzureDriver({ ...parseAzureParameters(azurite.parameters(container, rootdirectory)), ...extra });
  containers.set(driver, container);
  return driver;
}

/** Every blob name in `container`, as the service lists them. */
async function blobNames(container: string): Promise<string[]> {
  const names: string[] = [];
  for await (const item of service.getContainerClient(container).listBlobsFlat()) names.push(item.name);
  return names;
}

runDriverContract(
  'azure',
  // A small block size makes the contract's streams span many staged blocks.
  () => driverFor(azurite.uniqueContainer('contract'), '/berth/contract/', { blockSize: 1024 * 1024 }),
  async (driver) => {
    const container = containers.get(driver);
    if (container !== undefined) await service.getContainerClient(container).deleteIfExists();
  },
);

describe('azure driver', () => {
  it('uses distribution key layout: rootdirectory prefix + path without its leading slash', async () => {
    const container = azurite.uniqueContainer('layout');
    const link = '/docker/registry/v2/repositories/library/alpine/_manifests/tags/latest/current/link';
    await driverFor(container, '/some/root/').putContent(link, bytes('sha256:x'));
    await driverFor(container).putContent('/top/file', bytes('y'));
    assert.deepEqual(await blobNames(container), [
      'some/root/docker/registry/v2/repositories/library/alpine/_manifests/tags/latest/current/link',
      'top/file',
    ]);
    // A blob written by another client under the same layout reads back through the driver.
    await service.getContainerClient(container).getBlockBlobClient('some/root/written/elsewhere').upload('z', 1);
    const rooted = driverFor(container, 'some/root');
    assert.equal((await rooted.getContent('/written/elsewhere')).toString(), 'z');
    assert.deepEqual(await rooted.list('/'), ['/docker', '/written']);
    assert.deepEqual(await driverFor(container).list('/'), ['/some', '/top']);
  });

  it('treats a missing container as an empty store and creates it on the first write', async () => {
    const container = azurite.uniqueContainer('lazy');
    const driver = driverFor(container);
    assert.deepEqual(await driver.list('/'), []);
    assert.deepEqual(await walkPaths(driver, '/'), []);
    await assert.rejects(driver.getContent('/x'), PathNotFoundError);
    await assert.rejects(driver.stat('/x'), PathNotFoundError);
    const writer = await driver.writer('/w/data', { append: true });
    await writer.write([bytes('abc')]);
    await writer.commit();
    assert.equal((await driver.getContent('/w/data')).toString(), 'abc');
    assert.equal(await service.getContainerClient(container).exists(), true);
  });

  it('appends by re-committing the block list: stored blocks are never uploaded again', async () => {
    const container = azurite.uniqueContainer('append');
    const driver = driverFor(container, undefined, { blockSize: 4 });
    const blockBlob = service.getContainerClient(container).getBlockBlobClient('up/data');
    const first = await driver.writer('/up/data', { append: true });
    await first.write([bytes('0123456789')]);
    await first.commit();
    const before = (await blockBlob.getBlockList('committed')).committedBlocks ?? [];
    assert.deepEqual(
      before.map((block) => block.size),
      [10],
      'one block per full buffer',
    );

    const second = await driver.writer('/up/data', { append: true });
    assert.equal(second.size, 10);
    await second.write([bytes('abcd'), bytes('ef')]);
    await second.commit();
    const afterList = (await blockBlob.getBlockList('committed')).committedBlocks ?? [];
    assert.deepEqual(
      afterList.slice(0, before.length).map((block) => block.name),
      before.map((block) => block.name),
      'the existing blocks are committed again by id',
    );
    assert.deepEqual(
      afterList.map((block) => block.size),
      [10, 4, 2],
    );
    assert.equal((await driver.getContent('/up/data')).toString(), '0123456789abcdef');
  });

  it('continues a blob written in one request, which has no block list', async () => {
    const container = azurite.uniqueContainer('convert');
    const driver = driverFor(container);
    await driver.putContent('/p/data', bytes('whole'));
    const writer = await driver.writer('/p/data', { append: true });
    assert.equal(writer.size, 5);
    await writer.write([bytes('+more')]);
    await writer.commit();
    assert.equal((await driver.getContent('/p/data')).toString(), 'whole+more');
    const blocks = await service.getContainerClient(container).getBlockBlobClient('p/data').getBlockList('committed');
    assert.deepEqual(
      blocks.committedBlocks?.map((block) => block.size),
      [5, 5],
    );
  });

  it('refuses to commit an append over content another writer committed meanwhile', async () => {
    const driver = driverFor(azurite.uniqueContainer('race'));
    await driver.putContent('/r/data', bytes('base'));
    const a = await driver.writer('/r/data', { append: true });
    const b = await driver.writer('/r/data', { append: true });
    await a.write([bytes('-a')]);
    await a.commit();
    await b.write([bytes('-b')]);
    await assert.rejects(b.commit(), /changed while being appended to/);
    assert.equal((await driver.getContent('/r/data')).toString(), 'base-a');
  });

  it('moves with a server-side copy and removes the source', async () => {
    const container = azurite.uniqueContainer('move');
    const driver = driverFor(container, 'root');
    const data = Buffer.alloc(3 * 1024 * 1024, 0x42);
    await driver.putContent('/uploads/u1/data', data);
    await driver.move('/uploads/u1/data', '/blobs/sha256/ab/abcd/data');
    assert.deepEqual(await blobNames(container), ['root/blobs/sha256/ab/abcd/data']);
    assert.ok((await driver.getContent('/blobs/sha256/ab/abcd/data')).equals(data));
    await assert.rejects(driver.move('/uploads/u1/data', '/elsewhere'), PathNotFoundError);
  });

  it('answers redirects with a read-only SAS URL valid for about 20 minutes', async () => {
    const container = azurite.uniqueContainer('sas');
    const driver = driverFor(container, '/r');
    await driver.putContent('/blobs/data', bytes('served by the object store'));
    const url = await driver.redirectURL?.('/blobs/data', 'GET');
    assert.ok(url !== undefined);
    const parsed = new URL(url);
    assert.equal(`${parsed.origin}${parsed.pathname}`, `${azurite.serviceURL}/${container}/r/blobs/data`);
    assert.equal(parsed.searchParams.get('sp'), 'r');
    const expiry = Date.parse(parsed.searchParams.get('se') ?? '');
    assert.ok(Math.abs(expiry - (Date.now() + 20 * 60_000)) < 60_000, `expiry ${parsed.searchParams.get('se')}`);

    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'served by the object store');
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '26');

    // Without the signature, or with a forged one, the store refuses.
    const unsigned = await fetch(`${parsed.origin}${parsed.pathname}`);
    assert.notEqual(unsigned.status, 200);
    await unsigned.arrayBuffer();
    parsed.searchParams.set('sp', 'rw');
    const forged = await fetch(parsed);
    assert.equal(forged.status, 403);
    await forged.arrayBuffer();
  });

  it('streams a ranged read of a multi-block blob', async () => {
    const driver = driverFor(azurite.uniqueContainer('range'), undefined, { blockSize: 1024 });
    const data = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    const writer = await driver.writer('/big', { append: false });
    await writer.write([data]);
    await writer.commit();
    const part = await readAll(await driver.reader('/big', { offset: 1000, length: 5000 }));
    assert.ok(part.equals(data.subarray(1000, 6000)));
  });
});

describe('registry on the azure driver', () => {
  const container = 'registry';
  const registryRoot = 'docker/registry/v2';
  let work: string;
  let image: BuiltImage;
  let server: TestServer;
  /** A second replica over the same container that serves bytes itself (redirects off). */
  let direct: TestServer;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-azure-'));
    const layout = await createOciLayout(join(work, 'src'));
    // A 6 MiB layer spans two of the writer's 4 MiB blocks.
    image = await layout.addImage({
      tag: 'app',
      layers: [{ files: { 'hello.txt': 'hello from azure\n' } }, { randomBytes: 6 * 1024 * 1024, seed: 'azure' }],
    });
    const storage = (redirect: boolean) => ({
      storage: {
        filesystem: undefined,
        azure: azurite.parameters(container),
        redirect: { disable: !redirect },
        delete: { enabled: true },
      },
      // Replicas share the secret that signs upload state, as a deployment behind a balancer does.
      http: { secret: 'azure-test-replicas-share-this-secret' },
    });
    server = await startTestServer(storage(true));
    direct = await startTestServer(storage(false));
  });

  after(async () => {
    await server?.close();
    await direct?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('pushes and pulls an image with skopeo, blobs fetched from the object store', { timeout: 180_000 }, async () => {
    const host = new URL(server.url).host;
    await skopeo('copy', [`oci:${join(work, 'src')}:app`, `docker://${host}/azure/app:1`]);

    const names = new Set(await blobNames(container));
    for (const digest of [image.config.digest, image.manifest.digest, ...image.layers.map((l) => l.digest)]) {
      const hex = digest.slice('sha256:'.length);
      assert.ok(names.has(`${registryRoot}/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`), digest);
    }
    assert.ok(names.has(`${registryRoot}/repositories/azure/app/_manifests/tags/1/current/link`));
    assert.ok(![...names].some((name) => name.includes('/_uploads/')), 'no upload left behind');

    for (const [label, base] of [
      ['redirecting', server],
      ['direct', direct],
    ] as const) {
      const out = join(work, `pull-${label}`);
      await skopeo('copy', [`docker://${new URL(base.url).host}/azure/app:1`, `oci:${out}:copy`]);
      const copied = await readOciLayout(out, 'copy');
      assert.equal(copied.digest, image.manifest.digest, label);
      for (const layer of image.layers) assert.ok(copied.blobs.has(layer.digest), `${label} ${layer.digest}`);
    }
  });

  it('answers blob GETs with a SAS redirect that serves the exact bytes', async () => {
    const layer = image.layers[1];
    assert.ok(layer !== undefined);
    const response = await fetch(`${server.url}/v2/azure/app/blobs/${layer.digest}`, { redirect: 'manual' });
    await response.arrayBuffer();
    assert.equal(response.status, 307);
    const location = response.headers.get('location') ?? '';
    assert.ok(location.startsWith(`${azurite.serviceURL}/${container}/${registryRoot}/blobs/sha256/`), location);
    assert.equal(new URL(location).searchParams.get('sp'), 'r');
    const fetched = Buffer.from(await (await fetch(location)).arrayBuffer());
    assert.equal(fetched.length, layer.size);
    assert.equal(`sha256:${createHash('sha256').update(fetched).digest('hex')}`, layer.digest);

    const served = await fetch(`${direct.url}/v2/azure/app/blobs/${layer.digest}`, {
      headers: { range: 'bytes=1000-1999' },
    });
    assert.equal(served.status, 206);
    assert.ok(Buffer.from(await served.arrayBuffer()).equals(fetched.subarray(1000, 2000)));
  });

  it('continues a chunked upload on the other replica and commits the right digest', async () => {
    const chunks = [Buffer.alloc(300_000, 1), Buffer.alloc(200_000, 2), Buffer.alloc(100_000, 3)];
    const whole = Buffer.concat(chunks);
    const digest = `sha256:${createHash('sha256').update(whole).digest('hex')}`;
    let location = await startUpload(server.url, 'azure/chunked');
    let offset = 0;
    for (const [i, chunk] of chunks.entries()) {
      // Alternate replicas: each PATCH appends to the same block blob through a new writer.
      const base = i % 2 === 0 ? direct.url : server.url;
      const url = new URL(new URL(location).pathname + new URL(location).search, base).toString();
      const response = await fetch(url, {
        method: 'PATCH',
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${offset}-${offset + chunk.length - 1}`,
        },
        body: chunk,
      });
      await response.arrayBuffer();
      assert.equal(response.status, 202, `chunk ${i}`);
      offset += chunk.length;
      location = new URL(response.headers.get('location') ?? '', base).toString();
    }
    const done = await fetch(withDigest(location, digest), { method: 'PUT' });
    await done.arrayBuffer();
    assert.equal(done.status, 201);
    const back = await fetch(`${direct.url}/v2/azure/chunked/blobs/${digest}`);
    assert.ok(Buffer.from(await back.arrayBuffer()).equals(whole));
  });
});
