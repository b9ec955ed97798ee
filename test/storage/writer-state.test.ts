/**
 * The writer lifecycle every driver's FileWriter is built on: which calls each state admits, the
 * guard against a second write or commit while one runs, and the chunk loop of buffering writers.
 * The driver contract suite checks the same through each driver; this pins the messages and edges.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WriterLifecycle } from '../../src/storage/drivers/writer-state.js';
import { deferred } from '../helpers/deferred.js';

async function* slowly(chunks: Uint8Array[], gate: Promise<void>): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) {
    await gate;
    yield chunk;
  }
}

describe('WriterLifecycle', () => {
  it('admits write and commit only while open, naming the path when given', () => {
    const named = new WriterLifecycle('/a/b');
    named.assertReady('write');
    named.markCommitted();
    assert.throws(() => named.assertReady('commit'), { message: 'cannot commit /a/b: writer is committed' });
    const anonymous = new WriterLifecycle();
    assert.equal(anonymous.markClosed(), true);
    assert.equal(anonymous.state, 'closed');
    assert.throws(() => anonymous.assertReady('write'), { message: 'cannot write: writer is closed' });
  });

  it('refuses a second write or commit while one runs', () => {
    const lifecycle = new WriterLifecycle();
    lifecycle.begin('write');
    assert.throws(() => lifecycle.begin('commit'), { message: 'cannot commit: a write is in progress' });
    lifecycle.end();
    lifecycle.begin('commit');
    lifecycle.end();
  });

  it('closes only an open writer, and cancels anything but a committed or cancelled one', () => {
    const committed = new WriterLifecycle();
    committed.markCommitted();
    assert.equal(committed.markClosed(), false);
    assert.equal(committed.markCancelled(), false, 'cancel after commit is a no-op');
    assert.equal(committed.state, 'committed');

    const closed = new WriterLifecycle();
    closed.markClosed();
    assert.equal(closed.markClosed(), false);
    assert.equal(closed.markCancelled(), true, 'a closed writer can still be cancelled');
    assert.equal(closed.markCancelled(), false);
    assert.equal(closed.state, 'cancelled');
  });

  it('writeChunks hands over non-empty chunks, counts them and awaits only returned promises', async () => {
    const lifecycle = new WriterLifecycle();
    const seen: number[] = [];
    let flushes = 0;
    const written = await lifecycle.writeChunks(
      [new Uint8Array(3), new Uint8Array(0), new Uint8Array(5)],
      undefined,
      (chunk) => {
        seen.push(chunk.length);
        if (chunk.length === 5) {
          return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
            flushes++;
          });
        }
      },
    );
    assert.equal(written, 8);
    assert.deepEqual(seen, [3, 5]);
    assert.equal(flushes, 1, 'the returned flush finished before write resolved');
    lifecycle.begin('commit');
  });

  it('writeChunks guards its run, and rejects foreign chunks and aborted signals', async () => {
    const lifecycle = new WriterLifecycle('/x');
    const gate = deferred();
    const first = lifecycle.writeChunks(slowly([new Uint8Array(1)], gate.promise), undefined, () => undefined);
    await assert.rejects(
      lifecycle.writeChunks([], undefined, () => undefined),
      {
        message: 'cannot write /x: a write is in progress',
      },
    );
    gate.resolve();
    assert.equal(await first, 1);

    await assert.rejects(
      lifecycle.writeChunks(['text' as unknown as Uint8Array], undefined, () => undefined),
      TypeError,
    );
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await assert.rejects(
      lifecycle.writeChunks([new Uint8Array(1)], controller.signal, () => undefined),
      {
        message: 'gone',
      },
    );
    lifecycle.assertReady('write');
  });
});
