/**
 * Just enough DER to write a self-signed X.509 certificate for the token signer's EC P-256 key,
 * so the key generated at first start can be handed to other verifiers (registry:2's
 * `rootcertbundle`) as a certificate. Node can read certificates but not make them, and this
 * small encoder avoids a heavyweight PKI dependency for one fixed certificate shape.
 */
import { type KeyObject, randomBytes, sign } from 'node:crypto';

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 + n, content);
const octets = (content: Buffer): Buffer => tlv(0x04, content);
const bitString = (content: Buffer, unusedBits = 0): Buffer =>
  tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), content]));
const boolTrue = (): Buffer => tlv(0x01, Buffer.from([0xff]));
const utf8 = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));

/** A non-negative DER INTEGER from its big-endian bytes. */
function integer(bytes: Buffer): Buffer {
  // DER integers are minimal (no redundant leading zero byte: OpenSSL refuses one as "illegal
  // padding") and signed (a leading 1 bit needs a zero byte in front to stay positive).
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const minimal = bytes.length === 0 ? Buffer.from([0]) : bytes.subarray(start);
  return tlv(0x02, (minimal[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal);
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a + b];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime after, as RFC 5280 requires. */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';
const BASIC_CONSTRAINTS = '2.5.29.19';
const KEY_USAGE = '2.5.29.15';

export interface SelfSignedOptions {
  /** The subject and issuer common name. */
  commonName: string;
  /** How long the certificate is valid from now (ms). */
  validForMs: number;
  /** The serial number's bytes (big-endian, non-negative); default 16 random bytes. */
  serial?: Buffer | undefined;
}

/**
 * A self-signed, non-CA certificate for an EC P-256 key pair, valid from an hour ago (clock
 * skew) for `validForMs`, usable for digital signatures only.
 * @returns the certificate in PEM.
 */
export function selfSignedCertificate(privateKey: KeyObject, publicKey: KeyObject, options: SelfSignedOptions): string {
  if (privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('selfSignedCertificate supports EC P-256 keys only');
  }
  const name = seq(set(seq(oid(COMMON_NAME), utf8(options.commonName))));
  const algorithm = seq(oid(ECDSA_WITH_SHA256));
  const now = Date.now();
  const serial = options.serial ?? randomBytes(16);
  const extensions = seq(
    seq(oid(BASIC_CONSTRAINTS), boolTrue(), octets(seq())),
    // digitalSignature only: bit 0 set, 7 unused bits.
    seq(oid(KEY_USAGE), boolTrue(), octets(bitString(Buffer.from([0x80]), 7))),
  );
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    algorithm,
    name,
    seq(time(new Date(now - 3_600_000)), time(new Date(now + options.validForMs))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, algorithm, bitString(signature));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
