/**
 * What the ACME manager keeps on disk, next to `http.tls.letsencrypt.cachefile`, so that every
 * process serving the same port (the `http.workers` of one machine) shares it:
 * - the cache file itself: account keys by directory URL and one certificate (chain and key)
 *   per host, JSON, mode 0600, replaced atomically and merged on write;
 * - a lock file per host, so one process at a time talks to the CA for that host (a lock left by
 *   a crashed process expires after LOCK_STALE_MS);
 * - the TLS-ALPN-01 challenge certificates being validated, because the CA's validation
 *   connection may reach any of the processes.
 */
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';

export interface CachedAccount {
  /** PEM private key of the ACME account. */
  key: string;
  /** The account URL once registered. */
  url?: string | undefined;
}

export interface CachedCertificate {
  /** PEM private key of the certificate. */
  key: string;
  /** PEM chain: leaf first, then intermediates. */
  chain: string;
}

export interface CacheData {
  version: 1;
  /** By ACME directory URL: an account belongs to one CA. */
  accounts: Record<string, CachedAccount>;
  /** By host name. */
  certificates: Record<string, CachedCertificate>;
}

/** A key and self-signed certificate answering one TLS-ALPN-01 challenge. */
export interface ChallengeCertificate {
  key: string;
  cert: string;
}

export interface AcmeStore {
  /** The cache file in use (inside the configured directory when `cachefile` names one). */
  readonly path: string;
  /**
   * Reads the cache; empty when the file does not exist, or (with a warning) when it is in
   * another format — it is then replaced on the first write.
   * @throws Error when the file exists but cannot be read
   */
  load(): Promise<CacheData>;
  /** Applies `change` to the latest cache on disk and writes it back atomically; returns it. */
  update(change: (data: CacheData) => void): Promise<CacheData>;
  /**
   * Takes `host`'s issuance lock.
   * @returns the release function, or undefined when another live process holds the lock
   */
  lock(host: string): Promise<(() => Promise<void>) | undefined>;
  /** Makes a challenge certificate visible to every process. */
  publishChallenge(host: string, challenge: ChallengeCertificate): Promise<void>;
  /** Removes a published challenge certificate; idempotent. */
  withdrawChallenge(host: string): Promise<void>;
  /** The published challenge certificate for `host`, if any. */
  readChallenge(host: string): Promise<ChallengeCertificate | undefined>;
}

const CACHE_NAME_IN_DIRECTORY = 'berth-acme.json';
/** An issuance takes seconds, a slow one a few minutes: a lock older than this was abandoned. */
const LOCK_STALE_MS = 10 * 60 * 1000;

function emptyCache(): CacheData {
  return { version: 1, accounts: {}, certificates: {} };
}

function isCacheData(value: unknown): value is CacheData {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Partial<CacheData>;
  return v.version === 1 && typeof v.accounts === 'object' && typeof v.certificates === 'object';
}

/** Host names become file names: configured hosts are DNS names, anything else is escaped. */
function fileSafe(host: string): string {
  return host.replace(/[^a-z0-9.-]/g, '_');
}

async function writeAtomic(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  // Private keys: readable by the registry's user only.
  await writeFile(temp, content, { mode: 0o600 });
  await rename(temp, path);
}

/** `cachefile` names a file; a directory (distribution 3's autocert DirCache) gets our file inside it. */
async function resolveCachePath(configured: string): Promise<string> {
  try {
    if ((await stat(configured)).isDirectory()) return join(configured, CACHE_NAME_IN_DIRECTORY);
  } catch {
    // Not there yet: it will be created as a file.
  }
  return configured;
}

export async function openAcmeStore(configured: string, logger: Logger): Promise<AcmeStore> {
  const path = await resolveCachePath(configured);
  const challengeDir = join(dirname(path), '.berth-acme-challenges');
  let warned = false;

  async function load(): Promise<CacheData> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyCache();
      throw new Error(`http.tls.letsencrypt.cachefile: cannot read ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (isCacheData(parsed)) return parsed;
    } catch {
      // Reported below.
    }
    if (!warned) {
      warned = true;
      logger.warn(
        { cachefile: path },
        'the ACME cache file is not in Berth format; starting afresh (it will be replaced)',
      );
    }
    return emptyCache();
  }

  return {
    path,
    load,
    async update(change) {
      const data = await load();
      change(data);
      await writeAtomic(path, `${JSON.stringify(data, null, 2)}\n`);
      return data;
    },
    async lock(host) {
      const lockPath = `${path}.${fileSafe(host)}.lock`;
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await mkdir(dirname(lockPath), { recursive: true });
          const handle = await open(lockPath, 'wx', 0o600);
          await handle.writeFile(`${process.pid}\n`);
          await handle.close();
          return () => rm(lockPath, { force: true });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
          const since = await stat(lockPath).then(
            (info) => Date.now() - info.mtimeMs,
            () => 0,
          );
          if (since < LOCK_STALE_MS) return undefined;
          logger.warn({ host, lock: lockPath }, 'removing an abandoned ACME lock');
          await rm(lockPath, { force: true });
        }
      }
      return undefined;
    },
    async publishChallenge(host, challenge) {
      await writeAtomic(join(challengeDir, fileSafe(host)), JSON.stringify(challenge));
    },
    async withdrawChallenge(host) {
      await rm(join(challengeDir, fileSafe(host)), { force: true });
    },
    async readChallenge(host) {
      try {
        const parsed = JSON.parse(await readFile(join(challengeDir, fileSafe(host)), 'utf8')) as ChallengeCertificate;
        return typeof parsed.key === 'string' && typeof parsed.cert === 'string' ? parsed : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
