/**
 * Token signing keys: the built-in token server's key (configured, or generated at first start
 * and kept in the storage root through the storage driver, so every replica shares it), the
 * key ids verifiers look keys up by, and the algorithm a key signs with.
 */

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import type { Logger } from 'pino';
import type { StorageDriver } from '../storage/driver.js';
import { isPathNotFound } from '../storage/errors.js';
import { selfSignedCertificate } from './x509.js';

/** A private key ready to sign tokens. */
export interface SigningKey {
  /** Signs. */
  readonly privateKey: KeyObject;
  /** Verifies; what other verifiers must trust. */
  readonly publicKey: KeyObject;
  /** The JWS algorithm the key signs with (ES256, RS256, EdDSA…). */
  readonly alg: string;
  /** The libtrust-style key id, the `kid` registry:2 looks keys up by. */
  readonly kid: string;
  /** The certificate for the key, in PEM, when one is known. */
  readonly certificatePem: string | undefined;
}

/** Driver paths (below the storage root) of the generated key and its certificate. */
export const STORED_KEY_PATH = '/berth/token-key.pem';
export const STORED_CERT_PATH = '/berth/token-cert.pem';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * The libtrust key id of a key (of its public half), as docker/libtrust and distribution compute it: SHA-256 of
 * the DER SubjectPublicKeyInfo, first 240 bits, base32, in twelve `:`-separated groups of four.
 */
export function libtrustKeyId(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const digest = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest()
    .subarray(0, 30);
  return (base32(digest).match(/.{4}/g) ?? []).join(':');
}

/** The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key, the other common `kid`. */
export async function jwkThumbprint(publicKey: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(publicKey));
}

/**
 * The JWS algorithm for a key: RS256 for RSA, ES256/384/512 for the NIST curves, EdDSA for Ed25519.
 * @throws Error for any other key type.
 */
export function algorithmFor(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'ed25519':
      return 'EdDSA';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'ES256';
      if (curve === 'secp384r1') return 'ES384';
      if (curve === 'secp521r1') return 'ES512';
      throw new Error(`unsupported EC curve ${curve ?? '?'} for token signing (use P-256, P-384 or P-521)`);
    }
    default:
      throw new Error(`unsupported key type ${key.asymmetricKeyType ?? '?'} for token signing`);
  }
}

function signingKey(privateKey: KeyObject, certificatePem: string | undefined): SigningKey {
  const publicKey = createPublicKey(privateKey);
  if (certificatePem !== undefined) {
    const cert = new X509Certificate(certificatePem);
    const certKey = cert.publicKey.export({ type: 'spki', format: 'der' });
    if (!certKey.equals(publicKey.export({ type: 'spki', format: 'der' }))) {
      throw new Error('the token certificate does not match the signing key');
    }
  }
  return { privateKey, publicKey, alg: algorithmFor(privateKey), kid: libtrustKeyId(publicKey), certificatePem };
}

/**
 * Loads a configured PEM private key (and optional certificate for it).
 * @throws Error when a file cannot be read, the key is unsupported, or the certificate is for another key.
 */
export async function loadSigningKey(keyPath: string, certificatePath: string | undefined): Promise<SigningKey> {
  const privateKey = createPrivateKey(await readFile(keyPath));
  const cert = certificatePath === undefined ? undefined : await readFile(certificatePath, 'utf8');
  return signingKey(privateKey, cert);
}

export interface StoredKeyOptions {
  driver: StorageDriver;
  logger: Logger;
  /** The filesystem driver's root directory, to make the key file readable by its owner only. */
  filesystemRoot?: string | undefined;
}

/** The PEM blocks of `text` with the given label, in order. */
function pemBlocks(text: string, label: string): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  return [...text.matchAll(re)].map((m) => `${m[0]}\n`);
}

/**
 * The key kept in the storage root, generated (EC P-256, with a self-signed certificate valid for
 * ten years) when none is there yet. The key file holds the key and its certificate together, so
 * one atomic write keeps them matched; the certificate is also written alone, for operators to
 * hand to other verifiers. After writing, the stored key is read back, so two replicas starting
 * at once end up using the same one (the last write wins for both).
 */
export async function loadOrCreateStoredKey(options: StoredKeyOptions): Promise<SigningKey> {
  const { driver, logger } = options;
  const read = async (): Promise<SigningKey | undefined> => {
    let text: string;
    try {
      text = (await driver.getContent(STORED_KEY_PATH)).toString('utf8');
    } catch (error) {
      if (isPathNotFound(error)) return undefined;
      throw error;
    }
    const [keyPem] = pemBlocks(text, 'PRIVATE KEY');
    if (keyPem === undefined) throw new Error(`${STORED_KEY_PATH} in the storage root holds no PRIVATE KEY block`);
    return signingKey(createPrivateKey(keyPem), pemBlocks(text, 'CERTIFICATE')[0]);
  };
  let key = await read();
  if (key === undefined) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cert = selfSignedCertificate(privateKey, publicKey, {
      commonName: 'Berth token signer',
      validForMs: 10 * 365 * 24 * 3_600_000,
    });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await driver.putContent(STORED_KEY_PATH, Buffer.from(pem + cert));
    if (options.filesystemRoot !== undefined) {
      await chmod(join(options.filesystemRoot, ...STORED_KEY_PATH.split('/')), 0o600);
    }
    key = await read();
    if (key === undefined) throw new Error('the generated token key could not be read back from storage');
    logger.info(
      { kid: key.kid, key: STORED_KEY_PATH, certificate: STORED_CERT_PATH },
      'generated the token signing key',
    );
  }
  if (key.certificatePem !== undefined) {
    const current = await driver.getContent(STORED_CERT_PATH).catch((error: unknown) => {
      if (isPathNotFound(error)) return undefined;
      throw error;
    });
    if (current?.toString('utf8') !== key.certificatePem) {
      await driver.putContent(STORED_CERT_PATH, Buffer.from(key.certificatePem));
    }
  }
  return key;
}
