/**
 * Garbage-collection benchmark: Berth's `garbage-collect` against registry:2's (Debian's
 * `docker-registry garbage-collect`, distribution 2.8) on identical filesystem stores.
 *
 * The store is written straight into distribution's layout (fast, and exactly what both read):
 * repositories of images whose layers are partly shared through common base layers, tags with
 * history, an index per few repositories, and deleted images whose blobs and layer links remain
 * — the garbage. Each tool then runs a dry run and a real run, each real run on its own copy, and
 * both real runs must leave exactly the same blobs behind; this happens twice, the tools taking
 * turns to go first, and the ratios compare medians.
 *
 *   node dist/bench/gc.js [--quick] [--json FILE] [--keep]
 *
 * Prints a table and one JSON document (µs per blob, ratios). `--quick` uses a 10 000-blob store
 * (about a minute in all); the default is 50 000 blobs across 500 repositories.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from './report.js';

export interface GcBenchOptions {
  /** 10 000 blobs instead of 50 000. */
  quick?: boolean;
  /** Keep the generated stores (their directory is printed). */
  keep?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export interface GcTiming {
  tool: 'berth' | 'registry:2';
  mode: 'dry-run' | 'real';
  seconds: number;
  usPerBlob: number;
}

export interface GcBenchResult {
  blobs: number;
  repositories: number;
  manifests: number;
  garbageBlobs: number;
  timings: GcTiming[];
  /** registry:2 time ÷ Berth time, per mode (medians over the rounds). */
  ratio: { dryRun: number; real: number };
  /** Both real runs left the same blobs. */
  sameResult: boolean;
}

export interface Shape {
  repositories: number;
  /** Live image manifests per repository (every one tagged). */
  images: number;
  /** Deleted image manifests per repository: their blobs and layer links are garbage. */
  deleted: number;
  /** Own layers per image, on top of two shared base layers. */
  layers: number;
  baseLayers: number;
}

export const FULL: Shape = { repositories: 500, images: 9, deleted: 1, layers: 8, baseLayers: 200 };
const QUICK: Shape = { repositories: 100, images: 9, deleted: 1, layers: 8, baseLayers: 50 };

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

interface Blob {
  digest: string;
  size: number;
}

/** Writes files with bounded concurrency. */
function createWriter(root: string) {
  const queue: Array<[string, Uint8Array | string]> = [];
  const flush = async (): Promise<void> => {
    const items = queue.splice(0);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const [path, content] = items[next++]!;
        const full = join(root, path);
        await mkdir(join(full, '..'), { recursive: true });
        await writeFile(full, content);
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
  };
  return {
    add(path: string, content: Uint8Array | string) {
      queue.push([path, content]);
    },
    async maybeFlush() {
      if (queue.length >= 5000) await flush();
    },
    flush,
  };
}

const V2 = 'docker/registry/v2';

function hexOf(digest: string): string {
  return digest.slice('sha256:'.length);
}

/** Generates the store under `root`. @returns blob and garbage counts. */
export async function generateStore(
  root: string,
  shape: Shape,
): Promise<{ blobs: number; garbage: number; manifests: number }> {
  const writer = createWriter(root);
  let blobs = 0;
  let manifests = 0;
  const garbage = new Set<string>();
  const putBlob = (content: Uint8Array | string): Blob => {
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    const hex = createHash('sha256').update(bytes).digest('hex');
    writer.add(`${V2}/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`, bytes);
    blobs += 1;
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const link = (repo: string, where: string, digest: string): void =>
    writer.add(`${V2}/repositories/${repo}/${where}/sha256/${hexOf(digest)}/link`, digest);

  const base = Array.from({ length: shape.baseLayers }, () =>
    putBlob(randomBytes(200 + Math.floor(Math.random() * 300))),
  );
  for (let r = 0; r < shape.repositories; r++) {
    const repo = `team${r % 25}/app-${r}`;
    const live: Blob[] = [];
    for (let i = 0; i < shape.images + shape.deleted; i++) {
      const deleted = i >= shape.images;
      const config = putBlob(
        JSON.stringify({ architecture: 'amd64', os: 'linux', created: new Date().toISOString(), n: `${repo}-${i}` }),
      );
      const shared = [base[(r + i) % base.length]!, base[(r * 7 + i * 3 + 1) % base.length]!];
      const own = Array.from({ length: shape.layers }, () =>
        putBlob(randomBytes(200 + Math.floor(Math.random() * 300))),
      );
      const layers = [...shared, ...own];
      const manifest = putBlob(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
          layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
        }),
      );
      for (const blob of [config, ...layers]) link(repo, '_layers', blob.digest);
      if (deleted) {
        for (const blob of [config, ...own, manifest]) garbage.add(blob.digest);
        continue;
      }
      manifests += 1;
      live.push(manifest);
      link(repo, '_manifests/revisions', manifest.digest);
      const tag = `v${i}`;
      writer.add(`${V2}/repositories/${repo}/_manifests/tags/${tag}/current/link`, manifest.digest);
      link(repo, `_manifests/tags/${tag}/index`, manifest.digest);
    }
    if (r % 5 === 0 && live.length >= 2) {
      const index = putBlob(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: live.slice(0, 2).map((m, i) => ({
            mediaType: OCI_MANIFEST,
            digest: m.digest,
            size: m.size,
            platform: { os: 'linux', architecture: i === 0 ? 'amd64' : 'arm64' },
          })),
        }),
      );
      manifests += 1;
      link(repo, '_manifests/revisions', index.digest);
      writer.add(`${V2}/repositories/${repo}/_manifests/tags/multi/current/link`, index.digest);
      link(repo, '_manifests/tags/multi/index', index.digest);
    }
    await writer.maybeFlush();
  }
  await writer.flush();
  return { blobs, garbage: garbage.size, manifests };
}

function run(cmd: string, args: string[]): Promise<{ seconds: number; stdoutBytes: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('REGISTRY_'))),
    });
    let stdoutBytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve({ seconds, stdoutBytes });
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}\n${stderr}`));
    });
  });
}

async function copyTree(from: string, to: string): Promise<void> {
  await run('cp', ['-a', from, to]);
}

async function writeConfig(dir: string, root: string): Promise<string> {
  const path = join(dir, `config-${Math.random().toString(36).slice(2)}.yml`);
  await writeFile(
    path,
    ['version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${root}`, ''].join(
      '\n',
    ),
  );
  return path;
}

async function remainingBlobs(root: string): Promise<string[]> {
  const out: string[] = [];
  const shards = join(root, V2, 'blobs', 'sha256');
  for (const shard of await readdir(shards)) {
    for (const hex of await readdir(join(shards, shard))) {
      const entries = await readdir(join(shards, shard, hex));
      if (entries.includes('data')) out.push(hex);
    }
  }
  return out.sort();
}

export async function runGcBenchmark(options: GcBenchOptions = {}): Promise<GcBenchResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const shape = options.quick === true ? QUICK : FULL;
  // The bundle `npm start` and the `berth` binary run, when built; else the compiled modules.
  const bundle = fileURLToPath(new URL('../berth/main.mjs', import.meta.url));
  const berthMain = existsSync(bundle) ? bundle : fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const work = await mkdtemp(join(tmpdir(), 'berth-gc-bench-'));
  try {
    const source = join(work, 'source');
    log(`generating a store of ${shape.repositories} repositories in ${source} …`);
    const generated = await generateStore(source, shape);
    log(`${generated.blobs} blobs, ${generated.manifests} manifests, ${generated.garbage} garbage blobs`);
    const timings: GcTiming[] = [];
    const time = async (tool: GcTiming['tool'], mode: GcTiming['mode'], root: string): Promise<void> => {
      const config = await writeConfig(work, root);
      const flags = mode === 'dry-run' ? ['--dry-run'] : [];
      // Each run starts with nothing left to write back, so no run pays for the copies' writeback.
      await run('sync', []);
      const { seconds } =
        tool === 'berth'
          ? await run(process.execPath, [berthMain, 'garbage-collect', config, ...flags])
          : await run('/usr/bin/docker-registry', ['garbage-collect', config, ...flags]);
      timings.push({ tool, mode, seconds, usPerBlob: (seconds * 1e6) / generated.blobs });
      log(`${tool} ${mode}: ${seconds.toFixed(2)} s`);
    };
    // Two rounds, the tools taking turns to go first. On the benchmark VM (ext4 mounted with
    // `discard`) one real run took 3.2 to 7.7 s depending on what the disk had just done (the
    // copies' writeback, trims queued by earlier deletions), and that falls on either tool alike.
    const tools: Array<GcTiming['tool']> = ['registry:2', 'berth'];
    let sameResult = true;
    for (let round = 0; round < 2; round++) {
      const order = round === 0 ? tools : [...tools].reverse();
      const copyFor = (tool: GcTiming['tool']): string => join(work, `${tool.replace(/\W/g, '')}-${round}`);
      // Dry runs change nothing, so both read the pristine source (page cache warm for both alike).
      for (const tool of order) await time(tool, 'dry-run', source);
      for (const tool of order) await copyTree(source, copyFor(tool));
      for (const tool of order) await time(tool, 'real', copyFor(tool));
      const [left, right] = await Promise.all([
        remainingBlobs(copyFor('berth')),
        remainingBlobs(copyFor('registry:2')),
      ]);
      sameResult &&= left.length === right.length && left.every((hex, i) => hex === right[i]);
      if (options.keep !== true) {
        for (const tool of order) await rm(copyFor(tool), { recursive: true, force: true });
      }
    }

    const seconds = (tool: GcTiming['tool'], mode: GcTiming['mode']): number =>
      median(timings.filter((t) => t.tool === tool && t.mode === mode).map((t) => t.seconds));
    const result: GcBenchResult = {
      blobs: generated.blobs,
      repositories: shape.repositories,
      manifests: generated.manifests,
      garbageBlobs: generated.garbage,
      timings,
      ratio: {
        dryRun: seconds('registry:2', 'dry-run') / seconds('berth', 'dry-run'),
        real: seconds('registry:2', 'real') / seconds('berth', 'real'),
      },
      sameResult,
    };
    if (options.keep === true) log(`stores kept in ${work}`);
    return result;
  } finally {
    if (options.keep !== true) await rm(work, { recursive: true, force: true });
  }
}

export function formatTable(result: GcBenchResult): string {
  const rows = result.timings.map(
    (t) =>
      `${t.tool.padEnd(11)} ${t.mode.padEnd(8)} ${t.seconds.toFixed(2).padStart(8)} s ${t.usPerBlob.toFixed(1).padStart(9)} µs/blob`,
  );
  return [
    `garbage-collect on ${result.blobs} blobs, ${result.manifests} manifests, ${result.repositories} repositories (${result.garbageBlobs} garbage)`,
    ...rows,
    `Berth is ${result.ratio.dryRun.toFixed(1)}× faster (dry run) and ${result.ratio.real.toFixed(1)}× faster (real run)`,
    `both real runs left the same blobs: ${result.sameResult ? 'yes' : 'NO'}`,
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const jsonAt = argv.indexOf('--json');
  const result = await runGcBenchmark({ quick: argv.includes('--quick'), keep: argv.includes('--keep') });
  process.stdout.write(`${formatTable(result)}\n${JSON.stringify(result, null, 2)}\n`);
  const jsonFile = jsonAt >= 0 ? argv[jsonAt + 1] : undefined;
  if (jsonFile !== undefined) await writeFile(jsonFile, `${JSON.stringify(result, null, 2)}\n`);
  if (!result.sameResult) process.exitCode = 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
