/**
 * The s3 driver's S3 client and small adapters around the AWS SDK. Errors are checked by shape
 * (`name`, `$metadata.httpStatusCode`) rather than with `instanceof`, which breaks when npm
 * installs two copies of the SDK.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3DriverOptions } from './s3-config.js';

/** Sockets kept open per endpoint: enough for a multipart copy's parallel parts and concurrent requests. */
const MAX_SOCKETS = 64;

/** SDK debug output as JSON lines on stderr, apart from the registry's own log stream. */
function stderrLogger(): NonNullable<S3ClientConfig['logger']> {
  const write =
    (level: string) =>
    (...content: unknown[]): void => {
      process.stderr.write(`${JSON.stringify({ level, driver: 's3', time: new Date().toISOString(), content })}\n`);
    };
  return {
    trace: write('trace'),
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
  };
}

/** Builds the SDK client `options` describe. No request is made. */
export function createS3Client(options: S3DriverOptions): S3Client {
  const config: S3ClientConfig = {
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    useDualstackEndpoint: options.useDualstack,
    useAccelerateEndpoint: options.accelerate,
    requestHandler: {
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, rejectUnauthorized: !options.skipVerify }),
    },
  };
  if (options.endpoint !== undefined) config.endpoint = options.endpoint;
  if (options.credentials !== undefined) config.credentials = options.credentials;
  if (options.userAgent !== undefined) config.customUserAgent = options.userAgent;
  if (options.debugLog) config.logger = stderrLogger();
  if (options.checksumDisabled) {
    // Many S3-compatible stores (and GCS's XML API) reject the SDK's default CRC headers and trailers.
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  return new S3Client(config);
}

/** The SDK's per-request options, leaving the signal out when there is none (exact optional properties). */
export function sendOptions(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal === undefined ? {} : { abortSignal: signal };
}

interface S3ErrorShape {
  name?: unknown;
  Code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function shape(error: unknown): S3ErrorShape | undefined {
  return typeof error === 'object' && error !== null ? (error as S3ErrorShape) : undefined;
}

/** The service's error code (`NoSuchKey`, `InvalidRange`, …) or the SDK's error name. */
export function s3ErrorCode(error: unknown): string | undefined {
  const s = shape(error);
  const code = s?.Code ?? s?.name;
  return typeof code === 'string' ? code : undefined;
}

/** The HTTP status of the service's answer, when there was one. */
export function s3Status(error: unknown): number | undefined {
  const status = shape(error)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * A missing object: `NoSuchKey`, or a bodiless 404 (HEAD). A missing bucket is not "absent": it
 * is a misconfiguration, and reporting it as an empty store would hide it.
 */
export function isNoSuchKey(error: unknown): boolean {
  const code = s3ErrorCode(error);
  if (code === 'NoSuchBucket') return false;
  return code === 'NoSuchKey' || code === 'NotFound' || s3Status(error) === 404;
}

/** A range that starts at or past the end of the object. */
export function isInvalidRange(error: unknown): boolean {
  return s3ErrorCode(error) === 'InvalidRange' || s3Status(error) === 416;
}

/** An operation the store does not implement (GCS's XML API has no multi-object delete). */
export function isNotImplemented(error: unknown): boolean {
  return s3ErrorCode(error) === 'NotImplemented' || s3Status(error) === 501;
}

/** An `If-Match` (or copy-source `If-Match`) precondition that failed: the object changed. */
export function isPreconditionFailed(error: unknown): boolean {
  return s3ErrorCode(error) === 'PreconditionFailed' || s3Status(error) === 412;
}
