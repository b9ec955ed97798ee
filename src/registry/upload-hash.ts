/**
 * The running sha256 of an upload session, in two flavours, and the file its state is saved in.
 *
 * Why two: Node's `crypto.Hash` is fast (1480 MiB/s on an idle core of the test machine) but its
 * state cannot be saved, so an upload whose `PUT` lands on another replica than its `PATCH` must
 * read the whole session back from storage to verify the digest. hash-wasm's SHA-256 can save and
 * load its state (116 bytes) but hashes at about a quarter of that speed (358 MiB/s). The registry
 * uses the savable hash only when another process can continue its sessions (a configured
 * `http.secret`), and the fast one otherwise; uploads.ts has the measured trade-off.
 *
 * Saved states live at `_uploads/<id>/berth-hashstates/sha256/<offset>`: registry:2 keeps its own
 * (Go-format) states in `_uploads/<id>/hashstates/`, never looks into ours, and removes both with
 * the session directory. A state names the offset it covers; since session data is append-only,
 * a state for offset N is valid for as long as the session exists.
 */
import { createHash, type Hash } from 'node:crypto';
import type { IHasher } from 'hash-wasm';

/** A sha256 over a prefix of a session's bytes. */
export interface RunningHash {
  /** Feeds the next bytes. */
  update(chunk: Uint8Array): void;
  /** The hex digest of everything fed so far; the hash can go on afterwards. */
  hex(): string;
  /** The serialised state, or undefined when this flavour cannot save one. */
  save(): Uint8Array | undefined;
}

export interface RunningHashFactory {
  /** Whether {@link RunningHash.save} returns states that {@link restore} accepts. */
  readonly resumable: boolean;
  /** A hash over no bytes yet. */
  create(): Promise<RunningHash>;
  /** A hash continuing from a saved state; undefined when the state is not one this build can load. */
  restore(saved: Uint8Array): Promise<RunningHash | undefined>;
}

function nativeHash(hash: Hash): RunningHash {
  return {
    update: (chunk) => {
      hash.update(chunk);
    },
    hex: () => hash.copy().digest('hex'),
    save: () => undefined,
  };
}

/** Node's native sha256: fastest, but its state lives and dies with the process. */
export const nativeSha256: RunningHashFactory = {
  resumable: false,
  create: async () => nativeHash(createHash('sha256')),
  restore: async () => undefined,
};

function wasmHash(hasher: IHasher): RunningHash {
  return {
    update: (chunk) => {
      hasher.update(chunk);
    },
    hex() {
      // digest() ends the hash; put the state back so the session can go on.
      const state = hasher.save();
      const hex = hasher.digest('hex');
      hasher.init();
      hasher.load(state);
      return hex;
    },
    save: () => hasher.save(),
  };
}

/** hash-wasm, loaded with the first resumable hash: a process that never needs one never pays for it. */
async function createSHA256(): Promise<IHasher> {
  const wasm = await import('hash-wasm');
  return wasm.createSHA256();
}

/** hash-wasm's sha256, whose state can be saved to storage and continued by another process. */
export const resumableSha256: RunningHashFactory = {
  resumable: true,
  async create() {
    const hasher = await createSHA256();
    hasher.init();
    return wasmHash(hasher);
  },
  async restore(saved) {
    const hasher = await createSHA256();
    hasher.init();
    try {
      // Rejects states of another hash-wasm build (their first bytes identify the WASM binary).
      hasher.load(saved);
    } catch {
      return undefined;
    }
    return wasmHash(hasher);
  },
};

/** Identifies the file format, so a future implementation can tell old states apart. */
const STATE_FORMAT = 'berth.hashstate.v1/sha256/hash-wasm';
/** A saved state is a few hundred bytes; anything larger is not ours. */
export const MAX_STATE_FILE_BYTES = 4096;

/** The bytes of a state file: small JSON, so an operator can see what it is. */
export function encodeHashState(offset: number, state: Uint8Array): Buffer {
  return Buffer.from(JSON.stringify({ format: STATE_FORMAT, offset, state: Buffer.from(state).toString('base64') }));
}

/** The saved state in a file, or undefined when it is not a state for `offset` in our format. */
export function decodeHashState(bytes: Uint8Array, offset: number): Uint8Array | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    if (parsed['format'] !== STATE_FORMAT || parsed['offset'] !== offset || typeof parsed['state'] !== 'string') {
      return undefined;
    }
    return Buffer.from(parsed['state'], 'base64');
  } catch {
    return undefined;
  }
}
