/**
 * The `storage.azure` parameters of distribution's config.yml, checked and given distribution's
 * defaults. Kept apart from the driver so the parsing is testable without a blob service.
 */
import { parseGoDuration } from '../../config/duration.js';

/** Distribution's default: public Azure. Sovereign clouds use e.g. `core.chinacloudapi.cn`. */
export const DEFAULT_AZURE_REALM = 'core.windows.net';
const DEFAULT_COPY_POLL_MAX_RETRY = 5;
const DEFAULT_COPY_POLL_DELAY_MS = 100;

/** Credential types distribution 3 accepts under `credentials.type`. */
const SHARED_KEY = 'shared_key';
const TOKEN_TYPES: ReadonlySet<string> = new Set(['client_secret', 'default_credentials', 'default_credential']);

/** What the azure driver needs, with every default applied. */
export interface AzureDriverOptions {
  /** Storage account name; signs requests and SAS URLs together with `accountKey`. */
  accountName: string;
  /** The account's base64 access key (shared key). */
  accountKey: string;
  /** The container holding the registry; created on the first write when absent. */
  container: string;
  /** Blob service endpoint without the container, e.g. `https://acct.blob.core.windows.net`. */
  serviceURL: string;
  /**
   * Blob-name prefix, without leading or trailing slashes ('' for none): a driver path `/a/b` is
   * the blob `<rootDirectory>/a/b`, as in distribution's azure driver.
   */
  rootDirectory: string;
  /** How many times a pending server-side copy (move) is polled before it is aborted. */
  copyStatusPollMaxRetry: number;
  /** Base delay between copy-status polls, in milliseconds; grows linearly per poll. */
  copyStatusPollDelayMs: number;
  /** Size of the blocks a writer stages, in bytes; the last block of each commit may be smaller. */
  blockSize: number;
}

/** Default block size: distribution's azure driver writes in 4 MiB pieces too. */
export const DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024;

function optionalString(parameters: Record<string, unknown>, key: string, where = 'storage.azure'): string | undefined {
  const value = parameters[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') throw new Error(`${where}.${key} must be a string`);
  return value;
}

function requiredString(parameters: Record<string, unknown>, key: string): string {
  const value = optionalString(parameters, key);
  if (value === undefined) throw new Error(`storage.azure.${key} is required`);
  return value;
}

function nonNegativeInt(value: unknown, key: string, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new Error(`storage.azure.${key} must be a non-negative integer`);
  }
  return n;
}

/** The config schema hands durations over in milliseconds; raw parameters may still be "100ms". */
function delayMs(value: unknown, key: string, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const ms = parseGoDuration(value.trim());
    if (ms !== undefined && ms >= 0) return ms;
  }
  throw new Error(`storage.azure.${key} must be a duration such as "100ms"`);
}

function credentialsType(parameters: Record<string, unknown>): string {
  const credentials = parameters['credentials'];
  if (credentials === undefined || credentials === null) return SHARED_KEY;
  if (typeof credentials !== 'object' || Array.isArray(credentials)) {
    throw new Error('storage.azure.credentials must be a mapping');
  }
  return optionalString(credentials as Record<string, unknown>, 'type', 'storage.azure.credentials') ?? SHARED_KEY;
}

/**
 * Checks `storage.azure` and applies distribution's defaults.
 * @throws Error naming the offending key when a required key is missing or malformed, and for
 *   the token credential types (`client_secret`, `default_credentials`), which this build does
 *   not support: they fail at start-up rather than on the first request.
 */
export function parseAzureParameters(parameters: Record<string, unknown>): AzureDriverOptions {
  const type = credentialsType(parameters);
  if (TOKEN_TYPES.has(type)) {
    throw new Error(
      `storage.azure.credentials.type ${type} is not supported yet: Berth's azure driver authenticates ` +
        `with the account's shared key (credentials.type: shared_key with accountname and accountkey)`,
    );
  }
  if (type !== SHARED_KEY) {
    throw new Error(
      `storage.azure.credentials.type must be one of shared_key, client_secret, default_credentials (got ${type})`,
    );
  }
  const accountName = requiredString(parameters, 'accountname');
  const accountKey = requiredString(parameters, 'accountkey');
  // A key that is not base64 would only surface later as every request failing to authenticate.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(accountKey) || Buffer.from(accountKey, 'base64').length === 0) {
    throw new Error('storage.azure.accountkey must be the base64 account key');
  }
  const container = requiredString(parameters, 'container');
  // Azure's container naming rule; a bad name would otherwise fail every request with a 400.
  if (!/^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$/.test(container) && container !== '$root') {
    throw new Error(
      `storage.azure.container ${JSON.stringify(container)} is not a valid container name ` +
        '(3-63 characters: lower-case letters, digits and single hyphens)',
    );
  }
  const realm = optionalString(parameters, 'realm') ?? DEFAULT_AZURE_REALM;
  const serviceURL = (optionalString(parameters, 'serviceurl') ?? `https://${accountName}.blob.${realm}`).replace(
    /\/+$/,
    '',
  );
  let parsed: URL;
  try {
    parsed = new URL(serviceURL);
  } catch {
    throw new Error(`storage.azure.serviceurl ${JSON.stringify(serviceURL)} is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new Error('storage.azure.serviceurl must be an http or https URL');
  }
  const root = optionalString(parameters, 'rootdirectory') ?? '';
  return {
    accountName,
    accountKey,
    container,
    serviceURL,
    rootDirectory: root.replace(/^\/+|\/+$/g, ''),
    copyStatusPollMaxRetry: nonNegativeInt(
      parameters['copystatuspollmaxretry'] ?? parameters['copy_status_poll_max_retry'],
      'copystatuspollmaxretry',
      DEFAULT_COPY_POLL_MAX_RETRY,
    ),
    copyStatusPollDelayMs: delayMs(
      parameters['copystatuspolldelay'] ?? parameters['copy_status_poll_delay'],
      'copystatuspolldelay',
      DEFAULT_COPY_POLL_DELAY_MS,
    ),
    blockSize: DEFAULT_BLOCK_SIZE,
  };
}
