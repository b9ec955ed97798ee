/** A temporary directory per test file, for tests that hand files (configurations) to the code under test. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

export interface TempDir {
  /** The directory's path once the `before` hook has run. */
  readonly dir: string;
  /** The path of `name` in the directory (the file need not exist). */
  path(name: string): string;
  /** Writes `text` to `name` in the directory and returns its path. */
  file(name: string, text: string): Promise<string>;
}

/**
 * Registers hooks on the calling test file that create a directory named after `prefix` under the
 * system's temp directory before its tests and remove it, contents and all, after them.
 */
export function useTempDir(prefix: string): TempDir {
  let dir: string | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  const current = (): string => {
    if (dir === undefined) throw new Error('the temp directory is created by a before hook: use it in tests');
    return dir;
  };
  const path = (name: string): string => join(current(), name);
  return {
    get dir() {
      return current();
    },
    path,
    async file(name, text) {
      const target = path(name);
      await writeFile(target, text);
      return target;
    },
  };
}
