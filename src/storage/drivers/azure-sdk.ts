/**
 * Small adapters around the Azure SDK. Its errors are checked by shape (`statusCode`, `code`)
 * rather than with `instanceof RestError`, which breaks when npm installs two copies of the SDK core.
 */

/** The SDK's `abortSignal` option, left out when there is no signal (exact optional properties). */
export function abortOption(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal === undefined ? {} : { abortSignal: signal };
}

interface AzureErrorShape {
  statusCode?: unknown;
  code?: unknown;
}

function shape(error: unknown): AzureErrorShape | undefined {
  return typeof error === 'object' && error !== null ? (error as AzureErrorShape) : undefined;
}

/** The service's error code (`BlobNotFound`, `ContainerNotFound`, …), if any. */
export function azureErrorCode(error: unknown): string | undefined {
  const code = shape(error)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether the service answered with HTTP `status`. */
export function isAzureStatus(error: unknown, status: number): boolean {
  return shape(error)?.statusCode === status;
}

/**
 * A missing blob or container, or a copy source that does not exist (`CannotVerifyCopySource`,
 * which the service also answers with 404).
 */
export function isAzureNotFound(error: unknown): boolean {
  return isAzureStatus(error, 404);
}

/** Whether the container itself is missing (as opposed to a blob in it). */
export function isContainerNotFound(error: unknown): boolean {
  return azureErrorCode(error) === 'ContainerNotFound';
}

/** A range read starting at or beyond the end of the blob. */
export function isInvalidRange(error: unknown): boolean {
  return isAzureStatus(error, 416) || azureErrorCode(error) === 'InvalidRange';
}
