/** `storage.s3` parameters: distribution's defaults, the checks, and the REGISTRY_STORAGE_S3_* route to the driver. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_MULTIPART_COPY_CHUNK_SIZE,
  DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY,
  DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE,
  MIN_PART_SIZE,
  parseS3Parameters,
} from '../../src/storage/drivers/s3-config.js';
import { createStorageDriver } from '../../src/storage/factory.js';

describe('storage.s3 parameters', () => {
  it('applies distribution defaults', () => {
    const options = parseS3Parameters({ bucket: 'images', region: 'eu-west-1' });
    assert.deepEqual(options, {
      region: 'eu-west-1',
      endpoint: undefined,
      bucket: 'images',
      rootDirectory: '',
      credentials: undefined,
      forcePathStyle: false,
      encrypt: false,
      keyId: undefined,
      skipVerify: false,
      chunkSize: DEFAULT_CHUNK_SIZE,
      multipartCopyChunkSize: DEFAULT_MULTIPART_COPY_CHUNK_SIZE,
      multipartCopyMaxConcurrency: DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY,
      multipartCopyThresholdSize: DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE,
      storageClass: 'STANDARD',
      objectAcl: undefined,
      userAgent: undefined,
      debugLog: false,
      useDualstack: false,
      accelerate: false,
      checksumDisabled: false,
      checksumAlgorithm: undefined,
    });
    assert.equal(DEFAULT_CHUNK_SIZE, 10 * 1024 * 1024);
  });

  it('reads every key, in the untyped forms distribution accepts', () => {
    const options = parseS3Parameters({
      bucket: 'b',
      region: 'us-west-2',
      regionendpoint: 'minio.local:9000',
      secure: 'false',
      forcepathstyle: 'true',
      accesskey: 'AK',
      secretkey: 'SK',
      sessiontoken: 'ST',
      encrypt: true,
      keyid: 'arn:aws:kms:key',
      skipverify: true,
      chunksize: '6291456',
      multipartcopychunksize: 8388608,
      multipartcopymaxconcurrency: 4,
      multipartcopythresholdsize: 0,
      storageclass: 'reduced_redundancy',
      objectacl: 'bucket-owner-full-control',
      useragent: 'berth-test',
      loglevel: 'debug',
      rootdirectory: '/registry/',
      checksumdisabled: true,
      checksumalgorithm: 'crc32c',
    });
    assert.equal(options.endpoint, 'http://minio.local:9000');
    assert.equal(options.forcePathStyle, true);
    assert.deepEqual(options.credentials, { accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'ST' });
    assert.equal(options.encrypt, true);
    assert.equal(options.keyId, 'arn:aws:kms:key');
    assert.equal(options.skipVerify, true);
    assert.equal(options.chunkSize, 6 * 1024 * 1024);
    assert.equal(options.multipartCopyChunkSize, 8 * 1024 * 1024);
    assert.equal(options.multipartCopyMaxConcurrency, 4);
    assert.equal(options.multipartCopyThresholdSize, 0);
    assert.equal(options.storageClass, 'REDUCED_REDUNDANCY');
    assert.equal(options.objectAcl, 'bucket-owner-full-control');
    assert.equal(options.userAgent, 'berth-test');
    assert.equal(options.debugLog, true);
    assert.equal(options.rootDirectory, 'registry');
    assert.equal(options.checksumDisabled, true);
    assert.equal(options.checksumAlgorithm, 'CRC32C');
  });

  it('derives the endpoint scheme from secure, and the region for S3-compatible stores', () => {
    assert.equal(
      parseS3Parameters({ bucket: 'b', regionendpoint: 'storage.googleapis.com' }).endpoint,
      'https://storage.googleapis.com',
    );
    assert.equal(parseS3Parameters({ bucket: 'b', regionendpoint: 'storage.googleapis.com' }).region, 'us-east-1');
    assert.equal(
      parseS3Parameters({ bucket: 'b', regionendpoint: 'http://127.0.0.1:9000/' }).endpoint,
      'http://127.0.0.1:9000',
    );
    assert.equal(
      parseS3Parameters({ bucket: 'b', region: 'eu-central-1', secure: false }).endpoint,
      'http://s3.eu-central-1.amazonaws.com',
    );
    assert.equal(parseS3Parameters({ bucket: 'b', storageclass: 'NONE', region: 'x' }).storageClass, undefined);
  });

  it('rejects what distribution rejects', () => {
    const base = { bucket: 'b', region: 'us-east-1' };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ region: 'us-east-1' }, /bucket is required/],
      [{ bucket: 'b' }, /region is required/],
      [{ ...base, chunksize: MIN_PART_SIZE - 1 }, /chunksize must be between/],
      [{ ...base, chunksize: 'big' }, /chunksize must be an integer/],
      [{ ...base, multipartcopychunksize: 1024 }, /multipartcopychunksize must be between/],
      [{ ...base, multipartcopymaxconcurrency: 0 }, /multipartcopymaxconcurrency must be between/],
      [{ ...base, storageclass: 'COLD' }, /storageclass must be one of/],
      [{ ...base, objectacl: 'everyone' }, /objectacl must be one of/],
      [{ ...base, accesskey: 'only-one' }, /must be set together/],
      [{ ...base, secure: 'maybe' }, /secure must be a boolean/],
      [{ ...base, v4auth: false }, /v4auth: false is not supported/],
      [{ ...base, loglevel: 'chatty' }, /loglevel must be one of/],
      [{ ...base, regionendpoint: 'ftp://x' }, /regionendpoint must be an http or https URL/],
    ];
    for (const [parameters, message] of cases) {
      assert.throws(() => parseS3Parameters(parameters), message, JSON.stringify(parameters));
    }
  });

  it('builds the driver from REGISTRY_STORAGE=s3 and REGISTRY_STORAGE_S3_* variables', () => {
    const { config, notSupportedYet } = parseConfig('version: 0.1\nstorage:\n  filesystem: {}\n', {
      env: {
        REGISTRY_STORAGE: 's3',
        REGISTRY_STORAGE_S3_BUCKET: 'images',
        REGISTRY_STORAGE_S3_REGION: 'eu-west-1',
        REGISTRY_STORAGE_S3_CHUNKSIZE: '5242880',
        REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
        REGISTRY_STORAGE_S3_ROOTDIRECTORY: '/registry',
      },
    });
    assert.deepEqual(notSupportedYet, []);
    assert.equal(config.storage.s3?.chunksize, 5242880);
    const driver = createStorageDriver(config.storage);
    assert.equal(driver.name, 's3');
    assert.throws(() => createStorageDriver({ s3: { region: 'r', bucket: 'b', chunksize: 1 } }), /chunksize/);
  });
});
