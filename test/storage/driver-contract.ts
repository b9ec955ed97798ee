/**
 * The one contract every storage driver passes. A driver's test file only says how to create
 * and dispose of a fresh, empty driver; object-store drivers run exactly the same checks.
 */
import { describe } from 'node:test';
import { contentSuite } from './contract/content.js';
import { type CleanupDriver, type CreateDriver, createWithDriver } from './contract/harness.js';
import { readerSuite, writerSuite } from './contract/streams.js';
import { treeSuite } from './contract/tree.js';

export type { CleanupDriver, CreateDriver } from './contract/harness.js';

/**
 * Registers the contract tests for one driver.
 * @param name shown in the test report
 * @param createDriver returns a fresh, empty driver for each test
 * @param cleanup releases what `createDriver` allocated; runs after every test, pass or fail
 */
export function runDriverContract(name: string, createDriver: CreateDriver, cleanup?: CleanupDriver): void {
  const withDriver = createWithDriver(createDriver, cleanup);
  describe(`storage driver contract: ${name}`, () => {
    contentSuite(withDriver);
    readerSuite(withDriver);
    writerSuite(withDriver);
    treeSuite(withDriver);
  });
}
