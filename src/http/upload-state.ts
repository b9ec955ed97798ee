/**
 * The upload state a client carries in the `_state` query parameter of an upload `Location`, so
 * a `PATCH`/`PUT` that a load balancer sends to another replica continues the same session.
 *
 * The token is distribution's, byte for byte: `base64url(HMAC-SHA256(secret, json) ‖ json)` with
 * Go's field names (`Name`, `UUID`, `Offset`, `StartedAt`). A Berth replica and a registry:2
 * replica configured with the same `http.secret` therefore accept each other's upload URLs.
 *
 * The session itself lives in storage; the token only proves that this registry (or one sharing
 * its secret) handed the URL out for this repository and session, and says where the client
 * believes the upload stands. Storage stays the truth for the offset: the handler compares the
 * two and answers 416 with the stored range when they disagree.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a signed upload URL says about its session. */
export interface UploadState {
  /** The repository the session belongs to. */
  name: string;
  /** The session id (the `<uuid>` path segment). */
  uuid: string;
  /** Bytes the session held when the URL was handed out. */
  offset: number;
  /** When the session started. */
  startedAt: Date;
  /**
   * A Berth extension: the sha256 (hex) of the session's first `offset` bytes, when the process
   * that handed the URL out had hashed them. A `PUT` that lands on another process (a cluster
   * worker, a replica) then verifies the digest without reading the session back. Distribution
   * ignores the field, and its tokens lack it.
   */
  sha256?: string | undefined;
}

/** Why a token was refused; each maps to 400 BLOB_UPLOAD_INVALID, as in distribution. */
export class UploadStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UploadStateError';
  }
}

export interface UploadStateCodec {
  /** Signs `state` into a token for the `_state` query parameter. */
  pack(state: UploadState): string;
  /**
   * Verifies a token's signature (in constant time) and decodes it.
   * @throws UploadStateError when the token is missing, malformed, or signed with another secret.
   */
  unpack(token: string | null | undefined): UploadState;
}

const MAC_BYTES = 32;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Far above any real token (a 255-character name plus fixed fields), far below a DoS. */
const MAX_TOKEN_CHARS = 4096;

/**
 * Go's `time.Time` JSON form is RFC 3339 with nanoseconds trimmed of trailing zeros; a whole
 * second has no fraction at all.
 */
function goTime(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, 'Z');
}

/** @param secret `http.secret` (any string; used as the HMAC key's UTF-8 bytes, as Go does). */
export function createUploadStateCodec(secret: string | Uint8Array): UploadStateCodec {
  if (secret.length === 0) throw new Error('the upload state secret must not be empty');
  const key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  const mac = (message: Buffer): Buffer => createHmac('sha256', key).update(message).digest();

  return {
    pack(state) {
      // Go's encoding/json field order and names, so distribution can read it.
      const json = Buffer.from(
        JSON.stringify({
          Name: state.name,
          UUID: state.uuid,
          Offset: state.offset,
          StartedAt: goTime(state.startedAt),
          ...(state.sha256 === undefined ? {} : { BerthSHA256: state.sha256 }),
        }),
      );
      // base64.URLEncoding in Go keeps the padding.
      return Buffer.concat([mac(json), json])
        .toString('base64')
        .replaceAll('+', '-')
        .replaceAll('/', '_');
    },

    unpack(token) {
      if (token === null || token === undefined || token === '') throw new UploadStateError('missing upload state');
      if (token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+={0,2}$/.test(token)) {
        throw new UploadStateError('malformed upload state');
      }
      const bytes = Buffer.from(token, 'base64url');
      if (bytes.length <= MAC_BYTES) throw new UploadStateError('malformed upload state');
      const message = bytes.subarray(MAC_BYTES);
      if (!timingSafeEqual(mac(message), bytes.subarray(0, MAC_BYTES))) {
        throw new UploadStateError('upload state signed with another secret or tampered with');
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(message.toString('utf8'));
      } catch {
        throw new UploadStateError('malformed upload state');
      }
      const fields = (parsed ?? {}) as Record<string, unknown>;
      const { Name: name, UUID: uuid, Offset: offset, StartedAt: startedAt, BerthSHA256: sha256 } = fields;
      const started = typeof startedAt === 'string' ? new Date(startedAt) : undefined;
      if (
        typeof name !== 'string' ||
        typeof uuid !== 'string' ||
        typeof offset !== 'number' ||
        !Number.isSafeInteger(offset) ||
        offset < 0 ||
        started === undefined ||
        Number.isNaN(started.getTime()) ||
        (sha256 !== undefined && (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)))
      ) {
        throw new UploadStateError('malformed upload state');
      }
      return { name, uuid, offset, startedAt: started, ...(sha256 === undefined ? {} : { sha256 }) };
    },
  };
}

/** The warning distribution logs when it has to make up a secret. */
export const RANDOM_SECRET_WARNING =
  'No HTTP secret provided (http.secret / REGISTRY_HTTP_SECRET) - generated a random secret for this process. ' +
  'Uploads will fail when several registry processes share the load behind a load balancer: ' +
  'give every replica the same http.secret.';

/** A random secret for a process (or a node:cluster primary and its workers) with none configured. */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}
