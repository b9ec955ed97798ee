/**
 * A durable FIFO of events for one endpoint of one registry instance: each event is one small
 * object `<dir>/<seq>.json` written atomically with `putContent`, and deleted once delivered.
 * The in-memory list is the order of delivery; storage is what survives a restart (another
 * instance adopts the files, see instances.ts). Sequence numbers are zero-padded so a listing
 * sorts in queue order.
 *
 * Memory stays bounded while an endpoint is down for long: past {@link MEMORY_WINDOW} pending
 * events, an event whose file is stored keeps only its sequence number in memory and is read
 * back from storage when its turn comes.
 */
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage/driver.js';
import { PathNotFoundError } from '../storage/errors.js';
import type { Event } from './event.js';

export const MEMORY_WINDOW = 1000;
const SEQ_DIGITS = 16;
const SEQ_FILE = /^\d{16}\.json$/;
/** An event file is a few KiB at most; a cap keeps a corrupt one from being read whole. */
const MAX_EVENT_BYTES = 4 * 1024 * 1024;

interface Entry {
  readonly seq: number;
  readonly path: string;
  /** Undefined once spilled; the file then holds it. */
  event: Event | undefined;
  /** Whether the file is in place: false when writing failed (the event then stays in memory) or an adopted file was taken by another instance. */
  readonly stored: Promise<boolean>;
}

export interface DurableQueue {
  /** Events queued and not yet removed. */
  readonly length: number;
  /**
   * Appends an event and writes its file.
   * @returns true once stored; false when storage failed (the event is still delivered from memory,
   *   but would not survive a restart). Never rejects.
   */
  push(event: Event): Promise<boolean>;
  /**
   * Appends an event file of another instance's queue by moving it here, so exactly one instance
   * owns it (on a filesystem the move is atomic; on object storage it is a copy and a delete).
   * @returns false when the file was already gone (another instance took it). Never rejects.
   */
  adopt(path: string): Promise<boolean>;
  /**
   * The oldest event, read back from storage when it was spilled; undefined when the queue is
   * empty. An entry whose file vanished is dropped and the next one returned.
   * @throws the storage error when a spilled event cannot be read (the entry stays, to retry).
   */
  head(): Promise<Event | undefined>;
  /** Removes the oldest entry and its file (after delivery). Storage failures are logged, not thrown. */
  shift(): Promise<void>;
  /** Calls `listener` after each push or adopt (the delivery loop waits on it). */
  onAppend(listener: () => void): void;
  /** Resolves when every write and move started so far has finished. */
  settle(): Promise<void>;
}

export function seqName(seq: number): string {
  return `${String(seq).padStart(SEQ_DIGITS, '0')}.json`;
}

/** Whether a file name is one of a queue's event files. */
export function isEventFile(path: string): boolean {
  return SEQ_FILE.test(path.slice(path.lastIndexOf('/') + 1));
}

export interface DurableQueueOptions {
  driver: StorageDriver;
  /** The queue's directory, e.g. `/berth/notifications/<instance>/<endpoint>`. */
  dir: string;
  logger: Logger;
}

export function createDurableQueue(options: DurableQueueOptions): DurableQueue {
  const { driver, dir, logger } = options;
  // A deque: entries before `first` were shifted; compacted when half the array is dead.
  let entries: Entry[] = [];
  let first = 0;
  let nextSeq = 1;
  const inFlight = new Set<Promise<unknown>>();
  let listener: () => void = () => undefined;

  const count = (): number => entries.length - first;

  function track<T>(promise: Promise<T>): Promise<T> {
    inFlight.add(promise);
    void promise.finally(() => inFlight.delete(promise));
    return promise;
  }

  function append(make: (path: string) => Promise<boolean>, event: Event | undefined): Promise<boolean> {
    // The sequence number and the position in memory are taken together, synchronously, so the
    // delivery order is the order of the calls whatever order the writes finish in.
    const path = `${dir}/${seqName(nextSeq)}`;
    const stored = track(make(path));
    const entry: Entry = { seq: nextSeq, path, event, stored };
    nextSeq += 1;
    entries.push(entry);
    void stored.then((ok) => {
      if (ok && entry.event !== undefined && count() > MEMORY_WINDOW) entry.event = undefined;
    });
    listener();
    return stored;
  }

  function drop(): void {
    entries[first] = undefined as unknown as Entry;
    first += 1;
    if (first > 1024 && first * 2 > entries.length) {
      entries = entries.slice(first);
      first = 0;
    }
  }

  return {
    get length() {
      return count();
    },

    push(event) {
      const bytes = Buffer.from(JSON.stringify(event));
      return append(async (path) => {
        try {
          await driver.putContent(path, bytes);
          return true;
        } catch (error) {
          logger.error({ err: error, path }, 'notification event could not be stored; it is kept in memory only');
          return false;
        }
      }, event);
    },

    adopt(from) {
      return append(async (path) => {
        try {
          await driver.move(from, path);
          return true;
        } catch (error) {
          if (!(error instanceof PathNotFoundError)) logger.error({ err: error, from }, 'could not adopt event');
          return false;
        }
      }, undefined);
    },

    async head() {
      while (count() > 0) {
        const entry = entries[first] as Entry;
        if (entry.event !== undefined) return entry.event;
        if (!(await entry.stored)) {
          // An adopted file another instance took first (a failed push keeps its event in memory).
          if (entry.event === undefined) {
            drop();
            continue;
          }
          return entry.event;
        }
        try {
          const bytes = await driver.getContent(entry.path, { maxBytes: MAX_EVENT_BYTES });
          return JSON.parse(bytes.toString('utf8')) as Event;
        } catch (error) {
          if (error instanceof SyntaxError) {
            logger.error({ path: entry.path }, 'dropping an unreadable notification event file');
            drop();
            continue;
          }
          if (!(error instanceof PathNotFoundError)) throw error;
          drop();
        }
      }
      return undefined;
    },

    async shift() {
      const entry = entries[first];
      if (entry === undefined || count() === 0) return;
      drop();
      if (!(await entry.stored)) return;
      try {
        await track(driver.delete(entry.path));
      } catch (error) {
        // Left behind, the file is delivered again after a restart: at least once, never lost.
        if (!(error instanceof PathNotFoundError)) {
          logger.warn({ err: error, path: entry.path }, 'could not remove a delivered notification event');
        }
      }
    },

    onAppend(fn) {
      listener = fn;
    },

    async settle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
