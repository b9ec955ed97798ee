/**
 * The per-request context: its logger is bound to the request id and made only when something
 * logs, through a getter on the prototype rather than on each object (see LazyLoggerContext).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { createRequestContext } from '../../src/http/context.js';

describe('request context', () => {
  it('binds its logger to the request id, makes it once, and only when asked', () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line));
        callback();
      },
    });
    const parent = pino({ level: 'info' }, sink);
    let children = 0;
    const counting = Object.create(parent) as typeof parent;
    counting.child = ((...args: Parameters<typeof parent.child>) => {
      children++;
      return parent.child(...args);
    }) as typeof parent.child;
    const signal = new AbortController().signal;
    const context = createRequestContext('req-1', counting, signal);
    assert.equal(context.id, 'req-1');
    assert.equal(context.signal, signal);
    assert.equal(children, 0, 'a child logger was made before anything logged');
    context.logger.info('first');
    context.logger.info('second');
    assert.equal(children, 1);
    assert.deepEqual(
      lines.map((line) => [line['reqId'], line['msg']]),
      [
        ['req-1', 'first'],
        ['req-1', 'second'],
      ],
    );
  });

  it('has no accessor of its own, so V8 need not make one per request', () => {
    const context = createRequestContext('req-2', pino({ enabled: false }), new AbortController().signal);
    const own = Object.getOwnPropertyDescriptors(context);
    const accessors = Object.entries(own).filter(([, d]) => d.get !== undefined || d.set !== undefined);
    assert.deepEqual(
      accessors.map(([key]) => key),
      [],
    );
    assert.ok(context.logger !== undefined);
  });
});
