/**
 * Apache htpasswd files with bcrypt entries, as registry:2 takes them (`htpasswd -Bbn user pw`).
 * Other hash kinds are refused when the file is loaded, naming the line. The file is re-read when
 * it changes (checked at most once a second, on use), keeping the previous users if the new
 * content is invalid. Unknown users cost one bcrypt comparison against a dummy hash of the same
 * cost, so timing does not reveal which users exist.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import bcrypt from 'bcryptjs';
import type { Logger } from 'pino';
import { createLruMap } from '../registry/lru.js';

/** A bcrypt hash as htpasswd -B, Go's bcrypt and bcryptjs write it. */
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** bcrypt's cost when nothing else tells (Go's bcrypt.DefaultCost, as registry:2 uses). */
export const DEFAULT_BCRYPT_COST = 10;

export interface HtpasswdStore {
  /**
   * Checks a user's password. Takes about one bcrypt comparison whether or not the user exists;
   * never rejects for wrong credentials.
   */
  verify(user: string, password: string): Promise<boolean>;
  /**
   * A short digest of the user's current entry, undefined when the user does not exist; it
   * changes when the password does (refresh tokens carry it to die with the old password).
   */
  entryTag(user: string): Promise<string | undefined>;
}

export interface HtpasswdOptions {
  /** The htpasswd file. */
  path: string;
  /** Where reloads and provisioning are reported. */
  logger: Logger;
  /** Minimum time between checks of the file for changes (ms); default 1000. */
  checkIntervalMs?: number;
}

/** Names the hash scheme of a non-bcrypt entry for the start-up error. */
function describeHash(hash: string): string {
  if (hash.startsWith('$apr1$')) return 'Apache MD5 ($apr1$)';
  if (hash.startsWith('{SHA}')) return 'SHA-1 ({SHA})';
  if (hash.startsWith('$1$')) return 'MD5-crypt ($1$)';
  if (hash.startsWith('$5$') || hash.startsWith('$6$')) return 'SHA-crypt ($5$/$6$)';
  if (hash.startsWith('$2')) return 'a malformed or unsupported bcrypt variant';
  return 'crypt(3) or plain text';
}

/**
 * Parses htpasswd text into user → bcrypt hash. Blank lines and `#` comments are skipped; when a
 * user appears twice the first entry counts, as in Apache.
 * @throws Error naming the file and line of an entry that is not `user:bcrypt-hash`.
 */
export function parseHtpasswd(text: string, source: string): Map<string, string> {
  const users = new Map<string, string>();
  const lines = text.split('\n');
  for (const [i, rawLine] of lines.entries()) {
    const line = rawLine.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`${source} line ${i + 1}: expected user:hash`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!BCRYPT.test(hash)) {
      throw new Error(
        `${source} line ${i + 1} (user ${JSON.stringify(user)}): only bcrypt entries are supported ` +
          `(create them with \`htpasswd -B\` or \`berth htpasswd\`), found ${describeHash(hash)}`,
      );
    }
    if (!users.has(user)) users.set(user, hash);
  }
  return users;
}

/** The cost field of a bcrypt hash. */
function costOf(hash: string): number {
  return Number(BCRYPT.exec(hash)?.[1] ?? DEFAULT_BCRYPT_COST);
}

/** Hashes `password` as an htpasswd line (`$2y$`, the prefix Apache's htpasswd writes). */
export async function htpasswdLine(user: string, password: string, cost = DEFAULT_BCRYPT_COST): Promise<string> {
  const hash = await bcrypt.hash(password, cost);
  return `${user}:${hash.replace(/^\$2[ab]\$/, '$2y$')}`;
}

interface FileState {
  key: string;
  users: Map<string, string>;
}

async function fileKey(path: string): Promise<string> {
  const s = await stat(path);
  return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
}

/**
 * Like registry:2, a missing file is created with one user, `docker`, and a random password that
 * is logged once: the registry is never left open by a typo in the path.
 */
async function provision(path: string, logger: Logger): Promise<void> {
  const password = randomBytes(18).toString('base64url');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${await htpasswdLine('docker', password)}\n`, { mode: 0o600, flag: 'wx' });
  logger.warn(
    { path, user: 'docker', password },
    'htpasswd file was missing: created it with user "docker" and a random password',
  );
}

/**
 * Loads the htpasswd file (creating it when missing, as registry:2 does).
 * @throws Error when the file cannot be read or holds a non-bcrypt entry.
 */
export async function createHtpasswdStore(options: HtpasswdOptions): Promise<HtpasswdStore> {
  const { path, logger } = options;
  const checkIntervalMs = options.checkIntervalMs ?? 1000;
  try {
    await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await provision(path, logger);
  }
  const load = async (): Promise<FileState> => {
    const key = await fileKey(path);
    return { key, users: parseHtpasswd(await readFile(path, 'utf8'), `htpasswd file ${path}`) };
  };
  let state = await load();
  let checkedAt = Date.now();
  // A broken edit is reported once, not on every check until it is fixed.
  let failedKey: string | undefined;
  let checking: Promise<void> | undefined;
  let dummy: Promise<string> | undefined;
  let dummyCost = -1;
  // Remembers recent successful logins: docker sends Basic credentials on every request, and a
  // bcrypt comparison per request would cap a push at a few requests per second. Keys are an
  // HMAC under a per-process secret of user, password and the current hash, so nothing reusable
  // is kept and a changed password misses.
  const secret = randomBytes(32);
  const recent = createLruMap<string, number>(1024);
  const RECENT_TTL_MS = 5 * 60_000;

  const refresh = (): Promise<void> => {
    if (Date.now() - checkedAt < checkIntervalMs) return Promise.resolve();
    checking ??= (async () => {
      let key: string | undefined;
      try {
        key = await fileKey(path);
        if (key !== state.key && key !== failedKey) {
          state = await load();
          logger.info({ path, users: state.users.size }, 'htpasswd file reloaded');
        }
      } catch (error) {
        failedKey = key;
        logger.error({ err: error, path }, 'htpasswd file could not be reloaded; keeping the previous users');
      } finally {
        checkedAt = Date.now();
        checking = undefined;
      }
    })();
    return checking;
  };

  /** A hash of a random password at the cost real entries use, so misses cost the same as hits. */
  const dummyHash = (): Promise<string> => {
    const first = state.users.values().next();
    const cost = first.done ? DEFAULT_BCRYPT_COST : costOf(first.value);
    if (dummy === undefined || cost !== dummyCost) {
      dummyCost = cost;
      dummy = bcrypt.hash(randomBytes(16).toString('hex'), cost);
    }
    return dummy;
  };

  return {
    async verify(user, password) {
      await refresh();
      const hash = state.users.get(user);
      if (hash === undefined) {
        await bcrypt.compare(password, await dummyHash());
        return false;
      }
      const key = createHmac('sha256', secret).update(`${user}\0${password}\0${hash}`).digest('base64');
      const seen = recent.get(key);
      if (seen !== undefined && Date.now() - seen < RECENT_TTL_MS) return true;
      const ok = await bcrypt.compare(password, hash);
      if (ok) recent.set(key, Date.now());
      return ok;
    },
    async entryTag(user) {
      await refresh();
      const hash = state.users.get(user);
      return hash === undefined
        ? undefined
        : createHmac('sha256', 'berth-entry').update(hash).digest('base64url').slice(0, 16);
    },
  };
}
