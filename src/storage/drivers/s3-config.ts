/**
 * The `storage.s3` parameters of distribution's config.yml, checked and given distribution's
 * defaults. Kept apart from the driver so the parsing is testable without an S3 server.
 */

/** S3's smallest part of a multipart upload (all parts but the last); distribution's minimum chunk size. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3's largest part (and largest single copy). */
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
/** Distribution's default `chunksize`. */
export const DEFAULT_CHUNK_SIZE = 10 * 1024 * 1024;
/** Distribution's defaults for server-side copies (moves). */
export const DEFAULT_MULTIPART_COPY_CHUNK_SIZE = 32 * 1024 * 1024;
export const DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY = 100;
export const DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE = 32 * 1024 * 1024;

/** The storage classes distribution accepts; `NONE` sends no class (for stores that reject the header). */
export const STORAGE_CLASSES = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'OUTPOSTS',
  'GLACIER_IR',
  'NONE',
] as const;

/** S3's canned ACLs. */
export const OBJECT_ACLS = [
  'private',
  'public-read',
  'public-read-write',
  'authenticated-read',
  'aws-exec-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
  'log-delivery-write',
] as const;

export const CHECKSUM_ALGORITHMS = ['CRC32', 'CRC32C', 'SHA1', 'SHA256', 'CRC64NVME'] as const;

/** aws-sdk-go's log levels, as distribution's `loglevel` takes them; anything but `off` logs SDK debug output. */
export const LOG_LEVELS = [
  'off',
  'debug',
  'debugwithsigning',
  'debugwithhttpbody',
  'debugwithrequestretries',
  'debugwithrequesterrors',
  'debugwitheventstreambody',
] as const;

/** What the s3 driver needs, with every default applied. */
export interface S3DriverOptions {
  /** Region requests are signed for. */
  region: string;
  /** Full endpoint URL (scheme included) of an S3-compatible store; undefined for AWS's own. */
  endpoint: string | undefined;
  bucket: string;
  /**
   * Key prefix without leading or trailing slashes ('' for none): the driver path `/a/b` is the
   * key `<rootDirectory>/a/b`, as in distribution's s3 driver.
   */
  rootDirectory: string;
  /** Static credentials; undefined lets the SDK's default chain find them (env, profile, IAM role…). */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** Path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted (`bucket.endpoint/key`). */
  forcePathStyle: boolean;
  /** Server-side encryption of every object: SSE-KMS with `keyId`, else SSE-S3 (AES256). */
  encrypt: boolean;
  keyId: string | undefined;
  /** Accept any TLS certificate from the endpoint. */
  skipVerify: boolean;
  /** Size of each uploaded part of a writer (≥ 5 MiB), which bounds a writer's buffer. */
  chunkSize: number;
  /** Part size of multipart server-side copies. */
  multipartCopyChunkSize: number;
  /** Parts of one multipart copy in flight at once. */
  multipartCopyMaxConcurrency: number;
  /** Objects above this size are copied in parts rather than with one CopyObject. */
  multipartCopyThresholdSize: number;
  /** Storage class of new objects; undefined sends none. */
  storageClass: string | undefined;
  /** Canned ACL of new objects; undefined sends none and the bucket's default applies. */
  objectAcl: string | undefined;
  /** Extra user-agent text sent with every request. */
  userAgent: string | undefined;
  /** Log the SDK's requests at debug level (on stderr). */
  debugLog: boolean;
  useDualstack: boolean;
  accelerate: boolean;
  /** Only send and check checksums where the API requires them (for S3-compatible stores that reject the newer ones). */
  checksumDisabled: boolean;
  /** The checksum algorithm of uploads; undefined uses the SDK's default. */
  checksumAlgorithm: (typeof CHECKSUM_ALGORITHMS)[number] | undefined;
}

const WHERE = 'storage.s3';

function optionalString(parameters: Record<string, unknown>, key: string): string | undefined {
  const value = parameters[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') throw new Error(`${WHERE}.${key} must be a string`);
  return value;
}

/** Distribution reads driver parameters untyped: `true`, `"true"` and `"false"` all count. */
function bool(parameters: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const value = parameters[key];
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new Error(`${WHERE}.${key} must be a boolean`);
}

function int(parameters: Record<string, unknown>, key: string, fallback: number, min: number, max: number): number {
  const value = parameters[key];
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new Error(`${WHERE}.${key} must be an integer`);
  if (n < min || n > max) throw new Error(`${WHERE}.${key} must be between ${min} and ${max} (got ${n})`);
  return n;
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], key: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new Error(`${WHERE}.${key} must be one of ${allowed.join(', ')} (got ${value})`);
  }
  return value as T;
}

/** Adds the scheme `secure` asks for when the configured endpoint has none, as distribution does. */
function endpointURL(raw: string | undefined, secure: boolean): string | undefined {
  if (raw === undefined) return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `${secure ? 'https' : 'http'}://${raw}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new Error(`${WHERE}.regionendpoint ${JSON.stringify(raw)} is not a URL or host name`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`${WHERE}.regionendpoint must be an http or https URL`);
  }
  return withScheme.replace(/\/+$/, '');
}

/**
 * Checks `storage.s3` and applies distribution's defaults.
 * @throws Error naming the offending key when a required key is missing or a value is out of range.
 */
export function parseS3Parameters(parameters: Record<string, unknown>): S3DriverOptions {
  const bucket = optionalString(parameters, 'bucket');
  if (bucket === undefined) throw new Error(`${WHERE}.bucket is required`);
  const secure = bool(parameters, 'secure', true);
  let endpoint = endpointURL(optionalString(parameters, 'regionendpoint'), secure);
  const configuredRegion = optionalString(parameters, 'region');
  // S3-compatible stores ignore the region but requests must still be signed for one.
  const region = configuredRegion ?? (endpoint === undefined ? undefined : 'us-east-1');
  if (region === undefined)
    throw new Error(`${WHERE}.region is required (or regionendpoint for an S3-compatible store)`);
  if (endpoint === undefined && !secure) endpoint = `http://s3.${region}.amazonaws.com`;

  const accessKeyId = optionalString(parameters, 'accesskey');
  const secretAccessKey = optionalString(parameters, 'secretkey');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new Error(`${WHERE}.accesskey and ${WHERE}.secretkey must be set together (or both left out)`);
  }
  const sessionToken = optionalString(parameters, 'sessiontoken');
  const credentials =
    accessKeyId === undefined || secretAccessKey === undefined
      ? undefined
      : { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) };

  const storageClass = oneOf(
    optionalString(parameters, 'storageclass')?.toUpperCase() ?? 'STANDARD',
    STORAGE_CLASSES,
    'storageclass',
  );
  const loglevel = oneOf(optionalString(parameters, 'loglevel')?.toLowerCase() ?? 'off', LOG_LEVELS, 'loglevel');
  if (bool(parameters, 'v4auth', true) === false) {
    throw new Error(`${WHERE}.v4auth: false is not supported: the AWS SDK signs every request with Signature V4`);
  }
  const root = optionalString(parameters, 'rootdirectory') ?? '';
  return {
    region,
    endpoint,
    bucket,
    rootDirectory: root.replace(/^\/+|\/+$/g, ''),
    credentials,
    forcePathStyle: bool(parameters, 'forcepathstyle', false),
    encrypt: bool(parameters, 'encrypt', false),
    keyId: optionalString(parameters, 'keyid'),
    skipVerify: bool(parameters, 'skipverify', false),
    chunkSize: int(parameters, 'chunksize', DEFAULT_CHUNK_SIZE, MIN_PART_SIZE, MAX_PART_SIZE),
    multipartCopyChunkSize: int(
      parameters,
      'multipartcopychunksize',
      DEFAULT_MULTIPART_COPY_CHUNK_SIZE,
      MIN_PART_SIZE,
      MAX_PART_SIZE,
    ),
    multipartCopyMaxConcurrency: int(
      parameters,
      'multipartcopymaxconcurrency',
      DEFAULT_MULTIPART_COPY_MAX_CONCURRENCY,
      1,
      10_000,
    ),
    multipartCopyThresholdSize: int(
      parameters,
      'multipartcopythresholdsize',
      DEFAULT_MULTIPART_COPY_THRESHOLD_SIZE,
      0,
      MAX_PART_SIZE,
    ),
    storageClass: storageClass === 'NONE' ? undefined : storageClass,
    objectAcl: oneOf(optionalString(parameters, 'objectacl'), OBJECT_ACLS, 'objectacl'),
    userAgent: optionalString(parameters, 'useragent'),
    debugLog: loglevel !== 'off',
    useDualstack: bool(parameters, 'usedualstack', false),
    accelerate: bool(parameters, 'accelerate', false),
    checksumDisabled: bool(parameters, 'checksumdisabled', false),
    checksumAlgorithm: oneOf(
      optionalString(parameters, 'checksumalgorithm')?.toUpperCase(),
      CHECKSUM_ALGORITHMS,
      'checksumalgorithm',
    ),
  };
}
