/**
 * The self-signed token certificate (auth/x509.ts): OpenSSL must accept it for every serial. A
 * random serial starting with a zero byte used to be written with a redundant leading zero, which
 * OpenSSL refuses ("illegal padding"): one start in 256 made a certificate it could not read back.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { selfSignedCertificate } from '../../src/auth/x509.js';

describe('self-signed token certificate', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  for (const [serial, expected] of [
    ['00017f', '017F'],
    ['0000000080', '80'],
    ['7fffffff', '7FFFFFFF'],
    ['80000000', '80000000'],
    ['00', '00'],
  ] as const) {
    it(`encodes serial ${serial} so OpenSSL reads it back as ${expected}`, () => {
      const pem = selfSignedCertificate(privateKey, publicKey, {
        commonName: 'Berth token signer',
        validForMs: 3_600_000,
        serial: Buffer.from(serial, 'hex'),
      });
      const cert = new X509Certificate(pem);
      assert.equal(cert.serialNumber.replace(/^0+(?=.)/, ''), expected.replace(/^0+(?=.)/, ''));
      assert.ok(cert.verify(publicKey), 'self-signed');
      assert.ok(cert.checkPrivateKey(privateKey));
    });
  }

  it('reads back with a random serial, many times over', () => {
    // About one random serial in 256 starts with a zero byte before a byte below 0x80.
    for (let i = 0; i < 2000; i++) {
      const pem = selfSignedCertificate(privateKey, publicKey, { commonName: 'x', validForMs: 3_600_000 });
      assert.doesNotThrow(() => new X509Certificate(pem), `certificate ${i}`);
    }
  });
});
