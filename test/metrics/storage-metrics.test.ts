/**
 * The storage-metrics decorator over a real driver: every method is timed under its action, the
 * streams it hands out (reader, writer, walk) too, failures are counted by kind, and the driver
 * still behaves exactly as before (its shared contract is run over the decorated driver).
 */
import assert from 'node:assert/strict';
import { text } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { createStorageMetrics, withStorageMetrics } from '../../src/metrics/storage-metrics.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { createInMemoryDriver } from '../../src/storage/drivers/inmemory.js';
import { runDriverContract } from '../storage/driver-contract.js';
import { Scrape } from './scrape.js';

function measured(driver: StorageDriver = createInMemoryDriver()): { driver: StorageDriver; read(): Promise<Scrape> } {
  const registry = new Registry();
  return {
    driver: withStorageMetrics(driver, createStorageMetrics(registry)),
    read: async () => new Scrape(await registry.metrics()),
  };
}

describe('storage metrics decorator', () => {
  test('times every call, streams included, and counts failures by kind', async () => {
    const { driver, read } = measured();
    await driver.putContent('/a/one', Buffer.from('1'));
    await driver.putContent('/a/two', Buffer.from('22'));
    assert.equal((await driver.getContent('/a/two')).toString(), '22');
    await assert.rejects(driver.getContent('/a/missing'), { name: 'PathNotFoundError' });
    assert.equal(await text(await driver.reader('/a/two', { offset: 1 })), '2');
    const writer = await driver.writer('/b/file');
    assert.equal(await writer.write([Buffer.from('abc')]), 3);
    assert.equal(writer.size, 3);
    await writer.commit();
    await driver.stat('/b/file');
    assert.deepEqual(await driver.list('/a'), ['/a/one', '/a/two']);
    await driver.move('/b/file', '/b/moved');
    const walked: string[] = [];
    for await (const info of driver.walk('/')) walked.push(info.path);
    assert.ok(walked.includes('/b/moved'));
    await driver.delete('/b');

    const m = await read();
    const count = (action: string): number =>
      m.histogram('registry_storage_action_seconds', { driver: 'inmemory', action }).count;
    assert.equal(count('putcontent'), 2);
    assert.equal(count('getcontent'), 2);
    assert.equal(count('reader'), 1);
    assert.equal(count('writer'), 1);
    assert.equal(count('writer.write'), 1);
    assert.equal(count('writer.commit'), 1);
    assert.equal(count('stat'), 1);
    assert.equal(count('list'), 1);
    assert.equal(count('move'), 1);
    assert.equal(count('walk'), 1);
    assert.equal(count('delete'), 1);
    assert.equal(
      m.value('registry_storage_errors_total', { driver: 'inmemory', action: 'getcontent', error: 'not_found' }),
      1,
    );
    assert.equal(m.samples('registry_storage_errors_total').length, 1, 'no other failure');
  });

  test('a walk is timed by the driver, not by the consumer between entries', async () => {
    const { driver, read } = measured();
    for (let i = 0; i < 5; i++) await driver.putContent(`/w/${i}`, Buffer.from('x'));
    let seen = 0;
    for await (const _ of driver.walk('/w')) {
      seen++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (seen === 4) break;
    }
    const walk = (await read()).histogram('registry_storage_action_seconds', { driver: 'inmemory', action: 'walk' });
    assert.equal(walk.count, 1, 'an abandoned walk is recorded once');
    assert.ok(walk.sum < 0.05, `walk time ${walk.sum}s excludes the 80 ms the consumer spent`);
  });

  test('faults are counted as other, stream errors too', async () => {
    const real = createInMemoryDriver();
    const broken: StorageDriver = {
      ...real,
      name: real.name,
      async putContent() {
        throw Object.assign(new Error('EIO: disk on fire'), { code: 'EIO' });
      },
    };
    const { driver, read } = measured(broken);
    await assert.rejects(driver.putContent('/x', Buffer.from('x')), /disk on fire/);
    const ac = new AbortController();
    const writer = await driver.writer('/big');
    await writer.write([Buffer.alloc(1024)]);
    await writer.commit();
    const stream = await driver.reader('/big', { signal: ac.signal });
    stream.destroy(new Error('connection reset'));
    await new Promise((resolve) => stream.once('close', resolve));
    const m = await read();
    assert.equal(m.value('registry_storage_errors_total', { action: 'putcontent', error: 'other' }), 1);
    assert.equal(m.value('registry_storage_errors_total', { action: 'reader.stream', error: 'other' }), 1);
    assert.equal(m.histogram('registry_storage_action_seconds', { action: 'putcontent' }).count, 1);
  });
});

runDriverContract('metrics over inmemory', () => measured().driver);
