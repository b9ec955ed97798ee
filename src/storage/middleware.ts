/**
 * Distribution's storage middleware (`middleware.storage`): decorators around the configured
 * driver. Berth has `redirect`, which points blob redirects at a base URL such as a CDN in front
 * of the store. An entry Berth does not have (e.g. `cloudfront`) stops the start, rather than
 * leaving blobs served from the wrong place.
 */
import type { StorageDriver } from './driver.js';
import { validatePath } from './paths.js';

/** One `middleware.storage` entry as config.yml has it. */
export interface StorageMiddlewareEntry {
  name: string;
  /** Distribution skips disabled entries. */
  disabled?: boolean | undefined;
  options?: Record<string, unknown> | undefined;
}

/** The storage middleware this build has. */
export const STORAGE_MIDDLEWARE = ['redirect'] as const;

/**
 * Answers `redirectURL` with `baseurl` joined with the driver path (distribution's `redirect`
 * middleware): `https://cdn.example.com/base` + `/docker/registry/v2/blobs/…/data` gives
 * `https://cdn.example.com/base/docker/registry/v2/blobs/…/data`. It works over any driver, even
 * one without redirects of its own; everything else is the wrapped driver's.
 * @throws Error when `baseurl` is not an absolute http(s) URL.
 */
export function withRedirectBaseURL(driver: StorageDriver, baseurl: unknown): StorageDriver {
  if (typeof baseurl !== 'string' || baseurl === '') {
    throw new Error('middleware.storage redirect: options.baseurl is required');
  }
  let base: URL;
  try {
    base = new URL(baseurl);
  } catch {
    throw new Error(`middleware.storage redirect: baseurl ${JSON.stringify(baseurl)} is not an absolute URL`);
  }
  if ((base.protocol !== 'http:' && base.protocol !== 'https:') || base.host === '') {
    throw new Error('middleware.storage redirect: baseurl must be an http or https URL with a host');
  }
  const prefix = `${base.origin}${base.pathname.replace(/\/+$/, '')}`;
  return {
    name: driver.name,
    getContent: driver.getContent.bind(driver),
    putContent: driver.putContent.bind(driver),
    reader: driver.reader.bind(driver),
    writer: driver.writer.bind(driver),
    stat: driver.stat.bind(driver),
    list: driver.list.bind(driver),
    move: driver.move.bind(driver),
    delete: driver.delete.bind(driver),
    walk: driver.walk.bind(driver),
    async redirectURL(path, _method, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      return `${prefix}${path}`;
    },
  };
}

/**
 * Wraps `driver` in the configured storage middleware, in order.
 * @throws Error for middleware this build does not have, or malformed options.
 */
export function applyStorageMiddleware(
  driver: StorageDriver,
  entries: readonly StorageMiddlewareEntry[] | undefined,
): StorageDriver {
  let wrapped = driver;
  for (const entry of entries ?? []) {
    if (entry.disabled === true) continue;
    if (entry.name !== 'redirect') {
      throw new Error(
        `storage middleware ${entry.name} is not supported (supported: ${STORAGE_MIDDLEWARE.join(', ')})`,
      );
    }
    wrapped = withRedirectBaseURL(wrapped, entry.options?.['baseurl']);
  }
  return wrapped;
}
