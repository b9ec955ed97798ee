/** The registry services contract: every suite, run against one storage driver. */
import { blobsSuite } from './contract/blobs.js';
import { concurrencySuite } from './contract/concurrency.js';
import { listingsSuite } from './contract/listings.js';
import { manifestsSuite } from './contract/manifests.js';
import { uploadsSuite } from './contract/uploads.js';
import { createWithEnv, type DriverFactory } from './fixtures.js';

export function servicesContract(factory: DriverFactory): void {
  const withEnv = createWithEnv(factory);
  uploadsSuite(withEnv);
  blobsSuite(withEnv);
  manifestsSuite(withEnv);
  listingsSuite(withEnv);
  concurrencySuite(withEnv);
}
