/**
 * `withUploadLimits`: a registry decorator capping the bytes one upload request may carry
 * (`http.limits.maxchunkbytes`) and the size a whole upload session may reach
 * (`http.limits.maxuploadbytes`). A declared length over a limit is refused before a byte is
 * read; a body without one is counted as it streams and stopped at the first byte past the
 * limit. Either way the session keeps its previous size (appends are all-or-nothing), so the
 * client can go on with smaller chunks.
 */
import { RegistryError } from './errors.js';
import type { Registry, Repository, UploadSession, UploadStore } from './types.js';

export interface UploadLimits {
  /** Most bytes one append (one PATCH/PUT/POST body) may carry; 0 for no limit. */
  maxChunkBytes: number;
  /** Most bytes one upload session may hold; 0 for no limit. */
  maxUploadBytes: number;
}

function tooLarge(what: string, limit: number, key: string): RegistryError {
  return new RegistryError('TOO_LARGE', `${what} exceeds the limit of ${limit} bytes (http.limits.${key})`, {
    limit,
  });
}

function limitedSession(session: UploadSession, limits: UploadLimits): UploadSession {
  const { maxChunkBytes, maxUploadBytes } = limits;
  const check = (base: number, length: number): void => {
    if (maxChunkBytes > 0 && length > maxChunkBytes) throw tooLarge('upload chunk', maxChunkBytes, 'maxchunkbytes');
    if (maxUploadBytes > 0 && base + length > maxUploadBytes) {
      throw tooLarge('upload', maxUploadBytes, 'maxuploadbytes');
    }
  };
  return Object.assign(Object.create(session) as UploadSession, {
    append(body: AsyncIterable<Uint8Array>, opts: Parameters<UploadSession['append']>[1] = {}) {
      const base = session.size;
      if (opts.expectedLength !== undefined) check(base, opts.expectedLength);
      async function* counted(): AsyncGenerator<Uint8Array> {
        let received = 0;
        for await (const chunk of body) {
          received += chunk.byteLength;
          check(base, received);
          yield chunk;
        }
      }
      return session.append(counted(), opts);
    },
  });
}

function limitedUploads(uploads: UploadStore, limits: UploadLimits): UploadStore {
  return Object.assign(Object.create(uploads) as UploadStore, {
    async create(opts?: Parameters<UploadStore['create']>[0]) {
      return limitedSession(await uploads.create(opts), limits);
    },
    async resume(id: Parameters<UploadStore['resume']>[0], opts?: Parameters<UploadStore['resume']>[1]) {
      return limitedSession(await uploads.resume(id, opts), limits);
    },
  });
}

/** Wraps `registry` so every upload session enforces `limits`; without limits it is returned as is. */
export function withUploadLimits(registry: Registry, limits: UploadLimits): Registry {
  if (limits.maxChunkBytes <= 0 && limits.maxUploadBytes <= 0) return registry;
  // Object.create keeps every other member (and any added later) delegating to the real object.
  return Object.assign(Object.create(registry) as Registry, {
    repository(name: Parameters<Registry['repository']>[0]): Repository {
      const real = registry.repository(name);
      return Object.assign(Object.create(real) as Repository, {
        uploads: () => limitedUploads(real.uploads(), limits),
      });
    },
  });
}
