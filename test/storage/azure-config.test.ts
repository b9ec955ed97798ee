/** `storage.azure` parameters: distribution's defaults, and clear start-up errors. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../../src/config/load.js';
import { DEFAULT_BLOCK_SIZE, parseAzureParameters } from '../../src/storage/drivers/azure-config.js';
import { createStorageDriver } from '../../src/storage/factory.js';

const KEY = Buffer.from('not a real key, just base64').toString('base64');
const BASE = { accountname: 'acct', accountkey: KEY, container: 'registry' };

describe('azure driver parameters', () => {
  it('derives the service URL from account and realm, as distribution does', () => {
    const options = parseAzureParameters(BASE);
    assert.deepEqual(options, {
      accountName: 'acct',
      accountKey: KEY,
      container: 'registry',
      serviceURL: 'https://acct.blob.core.windows.net',
      rootDirectory: '',
      copyStatusPollMaxRetry: 5,
      copyStatusPollDelayMs: 100,
      blockSize: DEFAULT_BLOCK_SIZE,
    });
    assert.equal(
      parseAzureParameters({ ...BASE, realm: 'core.chinacloudapi.cn' }).serviceURL,
      'https://acct.blob.core.chinacloudapi.cn',
    );
    const emulator = parseAzureParameters({
      ...BASE,
      serviceurl: 'http://127.0.0.1:10000/acct/',
      rootdirectory: '/a/b/',
    });
    assert.equal(emulator.serviceURL, 'http://127.0.0.1:10000/acct');
    assert.equal(emulator.rootDirectory, 'a/b');
  });

  it('accepts shared_key explicitly and the copy polling knobs in both spellings', () => {
    const options = parseAzureParameters({
      ...BASE,
      credentials: { type: 'shared_key' },
      copystatuspollmaxretry: '7',
      copy_status_poll_delay: '250ms',
    });
    assert.equal(options.copyStatusPollMaxRetry, 7);
    assert.equal(options.copyStatusPollDelayMs, 250);
  });

  it('rejects token credentials at start-up, saying what to use instead', () => {
    for (const type of ['client_secret', 'default_credentials', 'default_credential']) {
      assert.throws(
        () => parseAzureParameters({ ...BASE, credentials: { type, clientid: 'c', tenantid: 't', secret: 's' } }),
        new RegExp(`credentials.type ${type} is not supported yet.*shared_key`),
      );
    }
    assert.throws(() => parseAzureParameters({ ...BASE, credentials: { type: 'magic' } }), /must be one of/);
  });

  it('names the missing or malformed key', () => {
    assert.throws(
      () => parseAzureParameters({ accountkey: KEY, container: 'c12' }),
      /storage.azure.accountname is required/,
    );
    assert.throws(
      () => parseAzureParameters({ accountname: 'a', container: 'c12' }),
      /storage.azure.accountkey is required/,
    );
    assert.throws(() => parseAzureParameters({ ...BASE, accountkey: 'not base64!' }), /base64 account key/);
    assert.throws(() => parseAzureParameters({ ...BASE, container: 'Bad_Name' }), /not a valid container name/);
    assert.throws(() => parseAzureParameters({ ...BASE, serviceurl: 'ftp://x' }), /http or https/);
    assert.throws(() => parseAzureParameters({ ...BASE, copystatuspolldelay: 'soon' }), /duration/);
  });

  it('is built by the factory from a parsed config.yml', () => {
    const config = validateConfig({
      version: '0.1',
      storage: { azure: { ...BASE, copystatuspolldelay: '1s' } },
    });
    assert.equal(createStorageDriver(config.storage).name, 'azure');
    const token = validateConfig({
      version: '0.1',
      storage: { azure: { ...BASE, credentials: { type: 'client_secret' } } },
    });
    assert.throws(() => createStorageDriver(token.storage), /not supported yet/);
  });
});
