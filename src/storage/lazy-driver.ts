/**
 * A driver whose implementation module is imported on first use. The object-store SDKs take
 * hundreds of milliseconds of CPU to load (@aws-sdk and @azure/storage-blob together about a
 * second on the benchmark machine), which a registry on the filesystem should not pay at start-up.
 * Configuration is still parsed eagerly by the caller, so a bad setting stops start-up as before;
 * only the SDK's own construction moves to the first call.
 */
import type { CallOptions, FileInfo, StorageDriver } from './driver.js';

export function lazyDriver(name: string, load: () => Promise<StorageDriver>): StorageDriver {
  let loading: Promise<StorageDriver> | undefined;
  const real = (): Promise<StorageDriver> => {
    loading ??= load();
    return loading;
  };
  return {
    name,
    getContent: async (path, opts) => (await real()).getContent(path, opts),
    putContent: async (path, content, opts) => (await real()).putContent(path, content, opts),
    reader: async (path, opts) => (await real()).reader(path, opts),
    writer: async (path, opts) => (await real()).writer(path, opts),
    stat: async (path, opts) => (await real()).stat(path, opts),
    list: async (path, opts) => (await real()).list(path, opts),
    move: async (from, to, opts) => (await real()).move(from, to, opts),
    delete: async (path, opts) => (await real()).delete(path, opts),
    async *walk(path, opts): AsyncIterable<FileInfo> {
      yield* (await real()).walk(path, opts);
    },
    async redirectURL(path: string, method: 'GET' | 'HEAD', opts?: CallOptions) {
      const driver = await real();
      return driver.redirectURL === undefined ? undefined : driver.redirectURL(path, method, opts);
    },
  };
}
