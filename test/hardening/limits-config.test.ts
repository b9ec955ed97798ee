/**
 * `http.limits` and `http.tls` as configuration: defaults, byte sizes with units, the REGISTRY_*
 * environment form, and values that stop start-up with a message naming the key.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseByteSize } from '../../src/config/byte-size.js';
import { loadConfig } from '../../src/config/load.js';
import { resolveLimits } from '../../src/http/limits.js';
import { translateCipherSuites } from '../../src/http/tls-ciphers.js';

describe('byte sizes', () => {
  test('integers and units', () => {
    assert.equal(parseByteSize(1024), 1024);
    assert.equal(parseByteSize('1024'), 1024);
    assert.equal(parseByteSize('512MiB'), 512 * 1024 * 1024);
    assert.equal(parseByteSize('10 GB'), 10e9);
    assert.equal(parseByteSize('1.5kib'), 1536);
    assert.equal(parseByteSize('4k'), 4000);
    for (const bad of ['', 'lots', '-1', '1.5.5MB', '10 parsecs', -5, 1.5, Number.NaN, null, {}]) {
      assert.equal(parseByteSize(bad), undefined, String(bad));
    }
  });
});

describe('http.limits in the configuration', () => {
  test('defaults: 64 KiB of headers, 4 MiB manifests, no size or concurrency caps, 2 minutes idle', () => {
    const { config } = loadConfig({ env: {} });
    assert.deepEqual(resolveLimits(config.http.limits), {
      maxHeaderBytes: 65536,
      maxManifestBytes: 4 * 1024 * 1024,
      maxChunkBytes: 0,
      maxUploadBytes: 0,
      maxConcurrentUploads: 0,
      idleTimeoutMs: 120_000,
    });
    assert.deepEqual(
      loadConfig({ env: {} }).notSupportedYet.filter((key) => key.startsWith('http.')),
      [],
    );
  });

  test('REGISTRY_HTTP_LIMITS_* set them, with units', () => {
    const { config } = loadConfig({
      env: {
        REGISTRY_HTTP_LIMITS_MAXCHUNKBYTES: '100MiB',
        REGISTRY_HTTP_LIMITS_MAXUPLOADBYTES: '10GB',
        REGISTRY_HTTP_LIMITS_MAXCONCURRENTUPLOADS: '8',
        REGISTRY_HTTP_LIMITS_IDLETIMEOUT: '30s',
        REGISTRY_HTTP_LIMITS_MAXHEADERBYTES: '32KiB',
      },
    });
    const limits = resolveLimits(config.http.limits);
    assert.equal(limits.maxChunkBytes, 100 * 1024 * 1024);
    assert.equal(limits.maxUploadBytes, 10e9);
    assert.equal(limits.maxConcurrentUploads, 8);
    assert.equal(limits.idleTimeoutMs, 30_000);
    assert.equal(limits.maxHeaderBytes, 32 * 1024);
  });

  test('bad values name the key', () => {
    assert.throws(
      () => loadConfig({ env: { REGISTRY_HTTP_LIMITS_MAXCHUNKBYTES: 'a lot' } }),
      /http\.limits\.maxchunkbytes: expected a byte size/,
    );
    assert.throws(() => loadConfig({ env: { REGISTRY_HTTP_LIMITS_IDLETIMEOUT: 'soon' } }), /http\.limits\.idletimeout/);
    const { config } = loadConfig({ env: { REGISTRY_HTTP_LIMITS_MAXHEADERBYTES: '100' } });
    assert.throws(() => resolveLimits(config.http.limits), /http\.limits\.maxheaderbytes must be at least 1024/);
  });

  test('http.tls is a supported key now', () => {
    const { notSupportedYet } = loadConfig({
      env: { REGISTRY_HTTP_TLS_CERTIFICATE: '/etc/berth/domain.crt', REGISTRY_HTTP_TLS_KEY: '/etc/berth/domain.key' },
    });
    assert.equal(notSupportedYet.includes('http.tls'), false);
  });
});

describe('cipher suite names', () => {
  test('Go names become OpenSSL names; TLS 1.3 suites stay on unless some are listed', () => {
    assert.equal(
      translateCipherSuites(['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305'])
        .ciphers,
      'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384',
    );
    assert.equal(
      translateCipherSuites(['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384']).ciphers,
      'ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384',
    );
    assert.deepEqual(translateCipherSuites(['TLS_RSA_WITH_AES_128_CBC_SHA256']).insecure, [
      'TLS_RSA_WITH_AES_128_CBC_SHA256',
    ]);
    assert.throws(() => translateCipherSuites(['TLS_NOPE', 'ALSO_NOPE']), /TLS_NOPE, ALSO_NOPE/);
    assert.throws(() => translateCipherSuites([]), /empty/);
  });
});
