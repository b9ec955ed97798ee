/**
 * What an upload costs when its commit lands on another replica than its data: two registry
 * instances (two processes' worth of in-memory state) over one filesystem store, one `append` of
 * the whole blob on the first (as skopeo and docker send a layer), then `commit` on the second.
 * Run: `npm run build && node dist/bench/upload-hash.js [MiB]` (default 256).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestFromHex, parseRepositoryName } from '../src/registry/names.js';
import { createRegistry } from '../src/registry/registry.js';
import { nativeSha256, type RunningHashFactory, resumableSha256 } from '../src/registry/upload-hash.js';
import { createFilesystemDriver } from '../src/storage/drivers/filesystem.js';

const CHUNK = 1024 * 1024;

async function* body(chunk: Buffer, count: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) yield chunk;
}

async function measure(hashes: RunningHashFactory, mib: number): Promise<{ appendMs: number; commitMs: number }> {
  const root = await mkdtemp(join(tmpdir(), 'berth-bench-hash-'));
  try {
    const driver = createFilesystemDriver({ rootdirectory: root });
    const first = createRegistry({ driver, deleteEnabled: false, uploadHashes: hashes });
    const second = createRegistry({ driver, deleteEnabled: false, uploadHashes: hashes });
    const name = parseRepositoryName('bench/hash');
    const chunk = randomBytes(CHUNK);
    const expected = createHash('sha256');
    for (let i = 0; i < mib; i++) expected.update(chunk);
    const digest = digestFromHex('sha256', expected.digest('hex'));

    const session = await first.repository(name).uploads().create();
    let started = performance.now();
    await session.append(body(chunk, mib));
    const appendMs = performance.now() - started;
    const elsewhere = await second.repository(name).uploads().resume(session.id);
    started = performance.now();
    await elsewhere.commit(digest);
    return { appendMs, commitMs: performance.now() - started };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const mib = Number(process.argv[2] ?? 256);
for (const [label, hashes] of [
  ['native sha256, re-read on commit', nativeSha256],
  ['hash-wasm sha256, saved state', resumableSha256],
] as const) {
  await measure(hashes, 8);
  const { appendMs, commitMs } = await measure(hashes, mib);
  process.stdout.write(
    `${label}: append ${mib} MiB ${appendMs.toFixed(0)} ms (${((mib / appendMs) * 1000).toFixed(0)} MiB/s), ` +
      `commit on another replica ${commitMs.toFixed(1)} ms\n`,
  );
}
