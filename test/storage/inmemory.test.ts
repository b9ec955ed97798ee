import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createInMemoryDriver } from '../../src/storage/drivers/inmemory.js';
import { PathNotFoundError } from '../../src/storage/errors.js';
import { runDriverContract } from './driver-contract.js';

runDriverContract('inmemory', () => createInMemoryDriver());

describe('inmemory driver', () => {
  it('keeps separate instances apart', async () => {
    const a = createInMemoryDriver();
    const b = createInMemoryDriver();
    await a.putContent('/x', Buffer.from('a'));
    await assert.rejects(b.getContent('/x'), PathNotFoundError);
  });

  it('drops directories once their last file is gone', async () => {
    const d = createInMemoryDriver();
    await d.putContent('/a/b/c/file', Buffer.from('x'));
    await d.putContent('/a/keep', Buffer.from('x'));
    await d.delete('/a/b/c/file');
    await assert.rejects(d.stat('/a/b'), PathNotFoundError);
    assert.deepEqual(await d.list('/a'), ['/a/keep']);
    await d.move('/a/keep', '/z/moved');
    await assert.rejects(d.stat('/a'), PathNotFoundError);
    assert.deepEqual(await d.list('/'), ['/z']);
  });
});
