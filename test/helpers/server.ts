/**
 * Starts a real Berth server on 127.0.0.1:0 with filesystem storage in a fresh temp dir.
 * Shared by the API tests and the client (skopeo, podman…) tests: keep the shape stable.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { createRegistry } from '../../src/registry/registry.js';
import type { Registry } from '../../src/registry/types.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { createStorageDriver } from '../../src/storage/factory.js';

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** The temp dir used as `storage.filesystem.rootdirectory`. */
  rootDir: string;
  /** Where distribution's layout starts: `<rootDir>/docker/registry/v2`. */
  registryRoot: string;
  /** The parsed configuration the server runs with. */
  config: Config;
  /** Notification endpoints' counters. */
  notifications: RunningServer['notifications'];
  /** The debug listener's URL when `http.debug.addr` is set. */
  debugUrl: string | undefined;
  /** Stops the server and removes the temp dir. */
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** A logger to observe (default: silent). */
  logger?: Logger;
  /**
   * Wraps the registry built from the configuration, for test-side decorators (fault
   * injection, redirect URLs) around the real services.
   */
  wrapRegistry?: (registry: Registry, config: Config) => Registry;
  /** Wraps the storage driver the server builds from the configuration (fault injection). */
  wrapDriver?: (driver: StorageDriver) => StorageDriver;
  /** As a cluster worker whose primary made up `http.secret`: uploads use the native sha256. */
  secretIsLocal?: boolean;
}

type PlainObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Merges `override` into `base`: objects recursively, anything else replaced. */
export function deepMerge(base: PlainObject, override: PlainObject): PlainObject {
  const out: PlainObject = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

/**
 * @param overrides deep-merged over the base configuration, e.g.
 *   `{ storage: { delete: { enabled: true } } }`.
 */
export async function startTestServer(overrides: object = {}, options: TestServerOptions = {}): Promise<TestServer> {
  const rootDir = await mkdtemp(join(tmpdir(), 'berth-test-'));
  try {
    const base: PlainObject = {
      version: '0.1',
      log: { level: 'error', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: rootDir } },
      http: { addr: '127.0.0.1:0' },
    };
    const config = validateConfig(deepMerge(base, overrides as PlainObject));
    const logger = options.logger ?? pino({ level: 'silent' });
    let registry: Registry | undefined;
    if (options.wrapRegistry !== undefined) {
      const real = createRegistry({
        driver: createStorageDriver(config.storage),
        deleteEnabled: config.storage.delete.enabled,
      });
      registry = options.wrapRegistry(real, config);
    }
    const server = await startServer(config, {
      logger,
      ...(registry === undefined ? {} : { registry }),
      ...(options.wrapDriver === undefined ? {} : { wrapDriver: options.wrapDriver }),
      ...(options.secretIsLocal === undefined ? {} : { secretIsLocal: options.secretIsLocal }),
    });
    return {
      url: server.url,
      port: server.port,
      rootDir,
      registryRoot: join(rootDir, 'docker', 'registry', 'v2'),
      config,
      notifications: server.notifications,
      debugUrl: server.debugUrl,
      async close() {
        try {
          await server.close();
        } finally {
          await rm(rootDir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await rm(rootDir, { recursive: true, force: true });
    throw error;
  }
}
