/**
 * A storage-driver decorator timing every call (registry:2's `registry_storage_action_seconds`,
 * with its `driver` and `action` labels) and counting failures by kind. Streams are covered too:
 * `reader` is timed to the stream being open and its later errors counted; each call on a writer
 * (`writer.write`, `writer.commit`…) is timed; `walk` is timed as the time spent waiting on the
 * driver across the whole iteration, not the time the consumer took between entries.
 */
import type { Readable } from 'node:stream';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { CallOptions, FileInfo, FileWriter, StorageDriver } from '../storage/driver.js';
import { ContentTooLargeError, InvalidOffsetError, InvalidPathError, isPathNotFound } from '../storage/errors.js';

/** What the decorator records into; one per metrics registry, shared by every driver wrapped with it. */
export interface StorageMetrics {
  /** Records one call of `action` on `driver` that took `seconds`; `error` when it failed. */
  record(driver: string, action: string, seconds: number, error?: unknown): void;
  /** Counts a failure that is not a timed call (a stream erroring after it was opened). */
  fail(driver: string, action: string, error: unknown): void;
}

/** The `error` label: expected outcomes (`not_found`) are told apart from faults (`other`). */
export function errorKind(error: unknown): string {
  if (isPathNotFound(error)) return 'not_found';
  if (error instanceof InvalidOffsetError) return 'invalid_offset';
  if (error instanceof ContentTooLargeError) return 'too_large';
  if (error instanceof InvalidPathError) return 'invalid_path';
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) return 'aborted';
  return 'other';
}

export function createStorageMetrics(registry: Registry): StorageMetrics {
  const registers = [registry];
  const seconds = new Histogram({
    name: 'registry_storage_action_seconds',
    help: 'Time taken by storage driver calls, failed ones included.',
    labelNames: ['driver', 'action'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const errors = new Counter({
    name: 'registry_storage_errors_total',
    help: 'Failed storage driver calls by kind (not_found is an expected answer, other a fault).',
    labelNames: ['driver', 'action', 'error'] as const,
    registers,
  });
  return {
    record(driver, action, took, error) {
      seconds.labels(driver, action).observe(took);
      if (error !== undefined) errors.labels(driver, action, errorKind(error)).inc();
    },
    fail(driver, action, error) {
      errors.labels(driver, action, errorKind(error)).inc();
    },
  };
}

const now = (): number => performance.now();

/** Wraps every method of `driver` (and of the writers and walks it returns) with metrics. */
export function withStorageMetrics(driver: StorageDriver, metrics: StorageMetrics): StorageDriver {
  const name = driver.name;

  async function timed<T>(action: string, call: () => Promise<T>): Promise<T> {
    const started = now();
    try {
      const result = await call();
      metrics.record(name, action, (now() - started) / 1000);
      return result;
    } catch (error) {
      metrics.record(name, action, (now() - started) / 1000, error ?? new Error('undefined rejection'));
      throw error;
    }
  }

  function measuredWriter(writer: FileWriter): FileWriter {
    return {
      get size() {
        return writer.size;
      },
      write: (src, opts) => timed('writer.write', () => writer.write(src, opts)),
      commit: (opts) => timed('writer.commit', () => writer.commit(opts)),
      close: () => timed('writer.close', () => writer.close()),
      cancel: () => timed('writer.cancel', () => writer.cancel()),
    };
  }

  function measuredWalk(iterable: AsyncIterable<FileInfo>): AsyncIterable<FileInfo> {
    return {
      [Symbol.asyncIterator]() {
        const inner = iterable[Symbol.asyncIterator]();
        let spent = 0;
        let recorded = false;
        const finish = (error?: unknown): void => {
          if (recorded) return;
          recorded = true;
          metrics.record(name, 'walk', spent / 1000, error);
        };
        return {
          async next() {
            const started = now();
            try {
              const step = await inner.next();
              spent += now() - started;
              if (step.done === true) finish();
              return step;
            } catch (error) {
              spent += now() - started;
              finish(error ?? new Error('undefined rejection'));
              throw error;
            }
          },
          async return(value?: unknown) {
            finish();
            if (inner.return !== undefined) return inner.return(value);
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  const decorated: StorageDriver = {
    name,
    getContent: (path, opts) => timed('getcontent', () => driver.getContent(path, opts)),
    putContent: (path, content, opts) => timed('putcontent', () => driver.putContent(path, content, opts)),
    async reader(path, opts) {
      const stream: Readable = await timed('reader', () => driver.reader(path, opts));
      // Listening for 'error' leaves the stream's flow alone (a 'data' listener would not).
      stream.on('error', (error) => metrics.fail(name, 'reader.stream', error));
      return stream;
    },
    writer: async (path, opts) => measuredWriter(await timed('writer', () => driver.writer(path, opts))),
    stat: (path, opts) => timed('stat', () => driver.stat(path, opts)),
    list: (path, opts) => timed('list', () => driver.list(path, opts)),
    move: (from, to, opts) => timed('move', () => driver.move(from, to, opts)),
    delete: (path, opts) => timed('delete', () => driver.delete(path, opts)),
    walk: (path, opts) => measuredWalk(driver.walk(path, opts)),
  };
  const redirect = driver.redirectURL?.bind(driver);
  if (redirect !== undefined) {
    decorated.redirectURL = (path: string, method: 'GET' | 'HEAD', opts?: CallOptions) =>
      timed('redirecturl', () => redirect(path, method, opts));
  }
  return decorated;
}
