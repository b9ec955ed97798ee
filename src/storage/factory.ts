/**
 * Builds the storage driver named by the `storage:` section of distribution's config.yml.
 * Drivers are looked up in a plain map rather than registered by import side effects, so the
 * set of drivers is visible in one place.
 */
import type { StorageDriver } from './driver.js';
import { parseAzureParameters } from './drivers/azure-config.js';
import { createFilesystemDriver } from './drivers/filesystem.js';
import { createInMemoryDriver } from './drivers/inmemory.js';
import { parseS3Parameters } from './drivers/s3-config.js';
import { lazyDriver } from './lazy-driver.js';

/** Parameters of distribution's filesystem driver. */
export interface FilesystemStorageParameters {
  /** Root of the tree; distribution's default is `/var/lib/registry`. */
  rootdirectory?: string | undefined;
  /** Accepted for compatibility; Node's libuv thread pool bounds filesystem concurrency instead. */
  maxthreads?: number | undefined;
  /** A Berth extension: large appends to upload data with O_DIRECT (default true). */
  directio?: boolean | undefined;
}

/**
 * The `storage:` section. Besides the one driver key it carries registry-level settings that are
 * not drivers (`delete`, `redirect`, `cache`, `maintenance`, `tag`); those are ignored here.
 */
export interface StorageConfig {
  filesystem?: FilesystemStorageParameters | null | undefined;
  inmemory?: Record<string, unknown> | null | undefined;
  s3?: Record<string, unknown> | null | undefined;
  azure?: Record<string, unknown> | null | undefined;
  gcs?: Record<string, unknown> | null | undefined;
  swift?: Record<string, unknown> | null | undefined;
  oss?: Record<string, unknown> | null | undefined;
  delete?: unknown;
  redirect?: unknown;
  cache?: unknown;
  maintenance?: unknown;
  tag?: unknown;
  [key: string]: unknown;
}

/** Distribution's default filesystem root. */
export const DEFAULT_ROOT_DIRECTORY = '/var/lib/registry';

/** Keys of the `storage:` section that configure the registry rather than name a driver. */
const NON_DRIVER_KEYS: ReadonlySet<string> = new Set(['delete', 'redirect', 'cache', 'maintenance', 'tag']);

/** Drivers distribution has and Berth does not implement yet. */
const PLANNED_DRIVERS: ReadonlySet<string> = new Set(['gcs', 'swift', 'oss']);

/** How the driver will be used, beyond what the configuration says. */
export interface DriverUse {
  /** A batch command serving nothing meanwhile (offline garbage collection): see FilesystemDriverOptions.batch. */
  batch?: boolean;
}

type DriverConstructor = (parameters: Record<string, unknown>, use: DriverUse) => StorageDriver;

const DRIVERS: Readonly<Record<string, DriverConstructor>> = {
  filesystem: (parameters, use) => {
    const root = parameters['rootdirectory'];
    if (root !== undefined && root !== null && typeof root !== 'string') {
      throw new Error('storage.filesystem.rootdirectory must be a string');
    }
    const directio = parameters['directio'];
    if (directio !== undefined && directio !== null && typeof directio !== 'boolean') {
      throw new Error('storage.filesystem.directio must be true or false');
    }
    // Like distribution, an empty value means the default.
    return createFilesystemDriver({
      rootdirectory: root ? root : DEFAULT_ROOT_DIRECTORY,
      directio: directio !== false,
      batch: use.batch === true,
    });
  },
  inmemory: () => createInMemoryDriver(),
  // The SDKs load on first use (see lazy-driver.ts); parameters are still checked here, at start-up.
  azure: (parameters) => {
    const options = parseAzureParameters(parameters);
    return lazyDriver('azure', async () => (await import('./drivers/azure.js')).createAzureDriver(options));
  },
  s3: (parameters) => {
    const options = parseS3Parameters(parameters);
    return lazyDriver('s3', async () => (await import('./drivers/s3.js')).createS3Driver(options));
  },
};

/** The names of the drivers this build can construct. */
export const SUPPORTED_DRIVERS: readonly string[] = Object.keys(DRIVERS);

/**
 * Constructs the driver configured in `storage`.
 * @throws Error when no driver or more than one is configured, when the driver is unknown or
 *   not supported yet, or when its parameters are malformed.
 */
export function createStorageDriver(storage: StorageConfig, use: DriverUse = {}): StorageDriver {
  const names = Object.keys(storage).filter((key) => !NON_DRIVER_KEYS.has(key) && storage[key] !== undefined);
  if (names.length === 0) {
    throw new Error(`no storage driver configured (supported: ${SUPPORTED_DRIVERS.join(', ')})`);
  }
  if (names.length > 1) {
    throw new Error(`exactly one storage driver must be configured, found: ${names.join(', ')}`);
  }
  const name = names[0]!;
  const construct = Object.hasOwn(DRIVERS, name) ? DRIVERS[name] : undefined;
  if (construct === undefined) {
    if (PLANNED_DRIVERS.has(name)) throw new Error(`storage driver ${name} is not supported yet`);
    throw new Error(`unknown storage driver ${name} (supported: ${SUPPORTED_DRIVERS.join(', ')})`);
  }
  const parameters = storage[name];
  if (parameters !== null && (typeof parameters !== 'object' || Array.isArray(parameters))) {
    throw new Error(`storage.${name} must be a mapping of parameters`);
  }
  return construct((parameters ?? {}) as Record<string, unknown>, use);
}
