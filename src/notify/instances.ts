/**
 * Queues across restarts and replicas. Every registry process (each replica, each worker) is an
 * instance with a random id and owns `/berth/notifications/<instance>/`: its endpoints' queues
 * under `queues/<endpoint>/` and a heartbeat `instance.json` rewritten every `heartbeatMs`.
 * Only the owner delivers from its queues, so events keep their order per instance.
 *
 * An instance that stopped cleanly with events still queued marks its heartbeat `closed`; one
 * that crashed stops beating. At start-up and on every beat, each instance looks for such
 * abandoned queues (closed, or silent for `staleMs`) and adopts them: it claims the instance in
 * its heartbeat file, then moves the event files into its own queues in order — before any new
 * event at start-up, so pending events go out first — and removes the emptied directory. A move
 * is atomic on a filesystem, so two instances racing for one file never both get it; on object
 * storage the claim makes that unlikely, and delivery is at least once anyway.
 * Queues of endpoints no longer configured are left in place (and logged once).
 */
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage/driver.js';
import { PathNotFoundError } from '../storage/errors.js';
import type { Endpoint } from './endpoint.js';
import { isEventFile } from './queue.js';

export const NOTIFICATIONS_ROOT = '/berth/notifications';
const HEARTBEAT_FILE = 'instance.json';
/** Moves in flight at once while adopting; the order is fixed when each is started. */
const ADOPT_BATCH = 32;

interface Heartbeat {
  instanceID: string;
  addr: string;
  startedAt: string;
  updatedAt: string;
  /** Stopped cleanly with events left: adoptable at once. */
  closed?: boolean;
  /** The instance taking the queue over, and since when. */
  adoptedBy?: string;
  adoptedAt?: string;
}

export interface InstanceKeeperOptions {
  driver: StorageDriver;
  instanceID: string;
  /** The source address of this instance's events, recorded for operators. */
  addr: string;
  /** The enabled endpoints by queue key. */
  endpoints: ReadonlyMap<string, Endpoint>;
  heartbeatMs: number;
  staleMs: number;
  logger: Logger;
}

export interface InstanceKeeper {
  /** Where this instance keeps the queue of the endpoint with `key`. */
  queueDir(key: string): string;
  /**
   * Writes the first heartbeat and adopts abandoned queues; then beats on a timer. Storage
   * failures are logged, never thrown: notifications must not stop the registry from starting.
   */
  start(): Promise<void>;
  /** One beat: refresh the heartbeat and adopt what was abandoned since (tests call it directly). */
  beat(): Promise<void>;
  /**
   * Stops beating; call after the endpoints are closed. With `pending` events left the
   * heartbeat is marked closed for a successor to adopt them; with none the directory is removed.
   */
  close(pending: number): Promise<void>;
}

/** A name safe as one storage path component, stable for a given endpoint name. */
export function queueKey(name: string): string {
  if (/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/.test(name)) return name;
  return `x-${Buffer.from(name).toString('hex').slice(0, 64)}`;
}

function parseHeartbeat(bytes: Buffer): Heartbeat | undefined {
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as Partial<Heartbeat>;
    return typeof parsed.updatedAt === 'string' ? (parsed as Heartbeat) : undefined;
  } catch {
    return undefined;
  }
}

async function listOrEmpty(driver: StorageDriver, path: string): Promise<string[]> {
  try {
    return await driver.list(path);
  } catch (error) {
    if (error instanceof PathNotFoundError) return [];
    throw error;
  }
}

export function createInstanceKeeper(options: InstanceKeeperOptions): InstanceKeeper {
  const { driver, instanceID, logger } = options;
  const dir = `${NOTIFICATIONS_ROOT}/${instanceID}`;
  const startedAt = new Date().toISOString();
  // Instance directories seen without a heartbeat: adopted only when still so one beat later,
  // since a directory can be listed between its creation and its first heartbeat write.
  const missingHeartbeat = new Set<string>();
  const warnedKeys = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  async function writeHeartbeat(extra: Partial<Heartbeat> = {}): Promise<void> {
    const heartbeat: Heartbeat = {
      instanceID,
      addr: options.addr,
      startedAt,
      updatedAt: new Date().toISOString(),
      ...extra,
    };
    await driver.putContent(`${dir}/${HEARTBEAT_FILE}`, Buffer.from(JSON.stringify(heartbeat)));
  }

  async function readHeartbeat(other: string): Promise<Heartbeat | undefined | 'missing'> {
    try {
      return parseHeartbeat(await driver.getContent(`${other}/${HEARTBEAT_FILE}`, { maxBytes: 64 * 1024 }));
    } catch (error) {
      if (error instanceof PathNotFoundError) return 'missing';
      throw error;
    }
  }

  function abandoned(heartbeat: Heartbeat, now: number): boolean {
    if (heartbeat.adoptedBy !== undefined && heartbeat.adoptedBy !== instanceID) {
      // Someone is adopting it; step in only if that adopter went quiet itself.
      return now - Date.parse(heartbeat.adoptedAt ?? '') > options.staleMs;
    }
    return heartbeat.closed === true || now - Date.parse(heartbeat.updatedAt) > options.staleMs;
  }

  /** Claims `other` by writing our id into its heartbeat and reading it back. */
  async function claim(other: string, heartbeat: Heartbeat | undefined): Promise<boolean> {
    const claimed: Partial<Heartbeat> = {
      ...(heartbeat ?? { updatedAt: new Date(0).toISOString() }),
      adoptedBy: instanceID,
      adoptedAt: new Date().toISOString(),
    };
    await driver.putContent(`${other}/${HEARTBEAT_FILE}`, Buffer.from(JSON.stringify(claimed)));
    const after = await readHeartbeat(other);
    return after !== 'missing' && after?.adoptedBy === instanceID;
  }

  async function adopt(other: string, otherID: string): Promise<void> {
    let adopted = 0;
    let leftovers = false;
    for (const queue of await listOrEmpty(driver, `${other}/queues`)) {
      const key = queue.slice(queue.lastIndexOf('/') + 1);
      const endpoint = options.endpoints.get(key);
      if (endpoint === undefined) {
        leftovers = true;
        if (!warnedKeys.has(queue)) {
          warnedKeys.add(queue);
          logger.warn({ queue }, 'queued notification events of an endpoint that is no longer configured are kept');
        }
        continue;
      }
      const files = (await listOrEmpty(driver, queue)).filter(isEventFile);
      for (let i = 0; i < files.length; i += ADOPT_BATCH) {
        const results = await Promise.all(files.slice(i, i + ADOPT_BATCH).map((file) => endpoint.adopt(file)));
        adopted += results.filter(Boolean).length;
      }
    }
    if (!leftovers) {
      try {
        await driver.delete(other);
      } catch (error) {
        if (!(error instanceof PathNotFoundError)) throw error;
      }
    }
    if (adopted > 0) logger.info({ from: otherID, events: adopted }, 'adopted queued notification events');
  }

  async function scan(): Promise<void> {
    const now = Date.now();
    for (const other of await listOrEmpty(driver, NOTIFICATIONS_ROOT)) {
      const otherID = other.slice(other.lastIndexOf('/') + 1);
      if (otherID === instanceID || stopped) continue;
      try {
        const heartbeat = await readHeartbeat(other);
        if (heartbeat === 'missing') {
          if (!missingHeartbeat.has(otherID)) {
            missingHeartbeat.add(otherID);
            continue;
          }
        } else if (heartbeat !== undefined && !abandoned(heartbeat, now)) {
          continue;
        }
        missingHeartbeat.delete(otherID);
        if (!(await claim(other, heartbeat === 'missing' ? undefined : heartbeat))) continue;
        await adopt(other, otherID);
      } catch (error) {
        logger.warn({ err: error, instance: otherID }, 'could not adopt notification queues; will retry');
      }
    }
  }

  async function beat(): Promise<void> {
    running ??= (async () => {
      try {
        await writeHeartbeat();
        await scan();
      } catch (error) {
        logger.warn({ err: error }, 'notification queue heartbeat failed');
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  return {
    queueDir: (key) => `${dir}/queues/${key}`,

    async start() {
      await beat();
      timer = setInterval(() => void beat(), options.heartbeatMs);
      timer.unref();
    },

    beat,

    async close(pending) {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      await running;
      try {
        if (pending > 0) await writeHeartbeat({ closed: true });
        else await driver.delete(dir);
      } catch (error) {
        if (!(error instanceof PathNotFoundError)) {
          logger.warn({ err: error }, 'could not record the notification queue state at shutdown');
        }
      }
    },
  };
}
