/**
 * The registry scenarios, run the same way against every target: large pushes (monolithic and
 * chunked), pulls with 1 and 4 streams, small-blob pushes, fixed-time request loads with
 * latency percentiles, and whole-image push and pull with skopeo. Each repetition records the
 * server's CPU seconds and peak RSS from /proc.
 */
import { randomFillSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOciLayout } from '../test/helpers/images.js';
import { run } from '../test/helpers/tools.js';
import { closeAll, connections, HttpConnection, quantile, type RequestSpec, runLoad } from './http-client.js';
import { MIB } from './limits.js';
import type { ServerProcess } from './processes.js';
import {
  digestOf,
  MANIFEST_ACCEPT,
  mountBlob,
  pullBlob,
  pushChunked,
  pushMonolithic,
  putManifest,
  type SmallImage,
  smallImage,
} from './registry-ops.js';

export interface Settings {
  quick: boolean;
  /** Repetitions of each scenario. */
  reps: number;
  /** Length of each fixed-time load (ms). */
  durationMs: number;
  bigBytes: number;
  chunkBytes: number;
  smallPushes: number;
  smallBytes: number;
  /** Tags in the tags-list repository and repositories in the catalog. */
  tags: number;
  repositories: number;
  /** Bytes of each of the three random layers of the skopeo image. */
  skopeoLayerBytes: number;
  /** Requests of the memory check (after as many of warm-up). */
  memoryRequests: number;
}

/** How a scenario's work is counted for CPU cost. */
export type WorkUnit = 'bytes' | 'requests';

export interface ScenarioResult {
  id: string;
  /** `MiB/s`, `req/s`, `pushes/s` or `s`. */
  unit: string;
  higherIsBetter: boolean;
  /** One value per repetition. */
  samples: number[];
  workUnit: WorkUnit;
  /** Total work over all repetitions (bytes or requests). */
  work: number;
  /** Server CPU seconds over all repetitions. */
  cpuSeconds: number;
  /** Highest peak RSS of the server tree over the repetitions (bytes). */
  peakRss: number;
  /** Latency percentiles in ms, pooled over repetitions, where measured per request. */
  p50?: number;
  p99?: number;
  errors: number;
}

/** Data shared by all targets, so every registry receives the same bytes. */
export interface SharedData {
  big: Buffer;
  /** Makes `big` the `variant`-th distinct blob and returns its digest (cached). */
  bigVariant(variant: number): string;
  small: Buffer[];
  smallDigests: string[];
  image: SmallImage;
}

export function createSharedData(settings: Settings): SharedData {
  const big = Buffer.allocUnsafe(settings.bigBytes);
  randomFillSync(big);
  const digests = new Map<number, string>();
  const bigVariant = (variant: number): string => {
    big.writeUInt32BE(variant, 0);
    let digest = digests.get(variant);
    if (digest === undefined) {
      digest = digestOf(big);
      digests.set(variant, digest);
    }
    return digest;
  };
  const count = settings.smallPushes * settings.reps;
  const small = Array.from({ length: count }, () => randomFillSync(Buffer.allocUnsafe(settings.smallBytes)));
  return {
    big,
    bigVariant,
    small,
    smallDigests: small.map(digestOf),
    image: smallImage(randomFillSync(Buffer.allocUnsafe(4096))),
  };
}

export interface RunContext {
  server: ServerProcess;
  settings: Settings;
  data: SharedData;
  /** Memory observations for the report. */
  memory: { pushGrowth: number; pushBaseline: number };
}

interface RepResult {
  value: number;
  work: number;
  latencies?: Float64Array;
  errors?: number;
}

/** Accumulates one target's results over repetitions that are interleaved with other targets'. */
export interface Recorder {
  /** Runs one repetition of scenario `id`, recording the server's CPU and peak RSS around it. */
  measure(
    id: string,
    unit: string,
    workUnit: WorkUnit,
    fn: () => Promise<RepResult>,
    higherIsBetter?: boolean,
  ): Promise<void>;
  /** The results so far, with latency percentiles pooled over repetitions. */
  results(): ScenarioResult[];
}

export function createRecorder(ctx: RunContext): Recorder {
  const byId = new Map<string, { result: ScenarioResult; latencies: Float64Array[] }>();
  return {
    async measure(id, unit, workUnit, fn, higherIsBetter = true) {
      let entry = byId.get(id);
      if (entry === undefined) {
        entry = {
          result: { id, unit, higherIsBetter, samples: [], workUnit, work: 0, cpuSeconds: 0, peakRss: 0, errors: 0 },
          latencies: [],
        };
        byId.set(id, entry);
      }
      const { result } = entry;
      ctx.server.resetPeak();
      const cpu0 = ctx.server.cpuSeconds();
      const out = await fn();
      result.cpuSeconds += ctx.server.cpuSeconds() - cpu0;
      result.peakRss = Math.max(result.peakRss, ctx.server.peakRssBytes());
      result.samples.push(out.value);
      result.work += out.work;
      result.errors += out.errors ?? 0;
      if (out.latencies !== undefined) entry.latencies.push(out.latencies);
    },
    results() {
      return [...byId.values()].map(({ result, latencies }) => {
        if (latencies.length === 0) return result;
        const pooled = new Float64Array(latencies.reduce((n, l) => n + l.length, 0));
        let at = 0;
        for (const l of latencies) {
          pooled.set(l, at);
          at += l.length;
        }
        return { ...result, p50: quantile(pooled, 0.5), p99: quantile(pooled, 0.99) };
      });
    },
  };
}

function conn(ctx: RunContext, readBufferBytes = 4 * MIB): HttpConnection {
  return new HttpConnection(ctx.server.host, ctx.server.port, readBufferBytes);
}

const seconds = (since: number): number => (performance.now() - since) / 1000;

/** One monolithic or chunked push of the big blob's `variant`; also records RSS growth during it. */
export async function bigPush(ctx: RunContext, rec: Recorder, chunked: boolean, variant: number): Promise<void> {
  const { settings, data } = ctx;
  const digest = data.bigVariant(variant);
  const c = conn(ctx);
  try {
    await rec.measure(chunked ? 'push-chunked' : 'push-256m', 'MiB/s', 'bytes', async () => {
      const before = ctx.server.rssBytes();
      const started = performance.now();
      if (chunked) await pushChunked(c, 'bench/big', data.big, digest, settings.chunkBytes);
      else await pushMonolithic(c, 'bench/big', data.big, digest);
      const value = settings.bigBytes / MIB / seconds(started);
      const growth = ctx.server.peakRssBytes() - before;
      if (growth > ctx.memory.pushGrowth) {
        ctx.memory.pushGrowth = growth;
        ctx.memory.pushBaseline = before;
      }
      return { value, work: settings.bigBytes };
    });
  } finally {
    c.close();
  }
}

/** `streams` concurrent GETs of the whole blob `digest`; the first call per target is an untimed warm-up. */
export async function pull(ctx: RunContext, rec: Recorder | undefined, digest: string, streams: number): Promise<void> {
  const conns = Array.from({ length: streams }, () => conn(ctx));
  const once = async () => {
    const started = performance.now();
    const sizes = await Promise.all(conns.map((c) => pullBlob(c, 'bench/big', digest)));
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== ctx.settings.bigBytes * streams) throw new Error(`pull returned ${total} bytes`);
    return { value: total / MIB / seconds(started), work: total };
  };
  try {
    if (rec === undefined) await once();
    else await rec.measure(`pull-${streams}`, 'MiB/s', 'bytes', once);
  } finally {
    closeAll(conns);
  }
}

/** Repetition `rep` of `smallPushes` monolithic pushes (POST + PUT) of distinct small blobs at concurrency 16. */
export async function smallPushes(ctx: RunContext, rec: Recorder, rep: number): Promise<void> {
  const { settings, data } = ctx;
  const conns = connections(ctx.server.host, ctx.server.port, 16, 64 * 1024);
  try {
    await rec.measure('small-pushes', 'pushes/s', 'requests', async () => {
      const base = rep * settings.smallPushes;
      let next = 0;
      let errors = 0;
      const latencies: number[] = [];
      const started = performance.now();
      await Promise.all(
        conns.map(async (c) => {
          while (next < settings.smallPushes) {
            const i = base + next++;
            const t0 = performance.now();
            try {
              await pushMonolithic(c, 'bench/small', data.small[i] as Buffer, data.smallDigests[i] as string);
              latencies.push(performance.now() - t0);
            } catch {
              errors++;
              c.close();
            }
          }
        }),
      );
      const elapsed = seconds(started);
      // Two requests per push: CPU cost is reported per request like the other request scenarios.
      return {
        value: settings.smallPushes / elapsed,
        work: settings.smallPushes * 2,
        latencies: Float64Array.from(latencies),
        errors,
      };
    });
  } finally {
    closeAll(conns);
  }
}

/** The image, 1,000-tag repository and 1,000 repositories the request scenarios read. */
export async function setupReadData(ctx: RunContext): Promise<void> {
  const { image } = ctx.data;
  const { tags, repositories } = ctx.settings;
  const c = conn(ctx, 64 * 1024);
  try {
    await pushMonolithic(c, 'bench/app', image.config, image.configDigest);
    await pushMonolithic(c, 'bench/app', image.layer, image.layerDigest);
    await putManifest(c, 'bench/app', 'latest', image.manifest);
  } finally {
    c.close();
  }
  const conns = connections(ctx.server.host, ctx.server.port, 16, 64 * 1024);
  try {
    let next = 0;
    await Promise.all(
      conns.map(async (k) => {
        while (next < tags) await putManifest(k, 'bench/app', `v${String(next++).padStart(4, '0')}`, image.manifest);
      }),
    );
    next = 0;
    await Promise.all(
      conns.map(async (k) => {
        while (next < repositories) {
          const repo = `bench/repo-${String(next++).padStart(4, '0')}`;
          for (const digest of [image.configDigest, image.layerDigest]) {
            if (!(await mountBlob(k, repo, digest, 'bench/app'))) throw new Error(`${repo}: mount refused`);
          }
          await putManifest(k, repo, 'latest', image.manifest);
        }
      }),
    );
  } finally {
    closeAll(conns);
  }
}

export interface FixedLoad {
  id: string;
  request: RequestSpec;
}

export function fixedLoads(data: SharedData): FixedLoad[] {
  return [
    {
      id: 'manifest-get',
      request: { method: 'GET', path: '/v2/bench/app/manifests/latest', headers: { Accept: MANIFEST_ACCEPT } },
    },
    { id: 'blob-head', request: { method: 'HEAD', path: `/v2/bench/app/blobs/${data.image.layerDigest}` } },
    { id: 'tags-list', request: { method: 'GET', path: '/v2/bench/app/tags/list' } },
    { id: 'catalog', request: { method: 'GET', path: `/v2/_catalog?n=${1000}` } },
  ];
}

/** Concurrency of the fixed-time request loads. */
export const LOAD_CONCURRENCY = 32;

/** One repetition of a request kind at concurrency 32 for a fixed time; `rec` undefined is a warm-up. */
export async function fixedTime(ctx: RunContext, rec: Recorder | undefined, load: FixedLoad): Promise<void> {
  const conns = connections(ctx.server.host, ctx.server.port, LOAD_CONCURRENCY, 256 * 1024);
  try {
    const once = async () => {
      const durationMs = rec === undefined ? Math.min(500, ctx.settings.durationMs) : ctx.settings.durationMs;
      const out = await runLoad(conns, () => load.request, { durationMs });
      if (out.errors > 0) throw new Error(`${load.id}: ${out.errors} failed requests, first: ${out.firstError}`);
      return { value: out.requests / out.seconds, work: out.requests, latencies: out.latencies };
    };
    if (rec === undefined) await once();
    else await rec.measure(load.id, 'req/s', 'requests', once);
  } finally {
    closeAll(conns);
  }
}

/**
 * RSS of the server after a first batch of `settings.memoryRequests` requests that reaches a
 * steady state (pools, JIT, caches), then after each of `MEMORY_BATCHES` more such batches: a leak
 * shows as growth in every batch, where a one-time step (V8 enlarging its young generation once
 * the load is steady) shows in one batch only. The goal is judged on the median batch.
 */
export const MEMORY_BATCHES = 3;

export async function requestMemory(
  ctx: RunContext,
  loads: readonly FixedLoad[],
): Promise<{ before: number; after: number; count: number; samples: number[] }> {
  const count = ctx.settings.memoryRequests;
  const conns = connections(ctx.server.host, ctx.server.port, 32, 256 * 1024);
  const next = (i: number): RequestSpec => (loads[i % loads.length] as FixedLoad).request;
  const settle = () => new Promise((resolve) => setTimeout(resolve, 200));
  try {
    await runLoad(conns, next, { total: count });
    await settle();
    const samples = [ctx.server.rssBytes()];
    for (let batch = 0; batch < MEMORY_BATCHES; batch++) {
      const out = await runLoad(conns, next, { total: count });
      if (out.errors > 0) throw new Error(`memory check: ${out.errors} failed requests, first: ${out.firstError}`);
      await settle();
      samples.push(ctx.server.rssBytes());
    }
    return { before: samples[0] as number, after: samples[samples.length - 1] as number, count, samples };
  } finally {
    closeAll(conns);
  }
}

/** Repetition `rep` of a whole-image push and pull with skopeo: a new image into a new repository. */
export async function skopeoImage(ctx: RunContext, rec: Recorder, target: string, rep: number): Promise<void> {
  const registry = `${ctx.server.host}:${ctx.server.port}`;
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-skopeo-'));
  try {
    const layout = await createOciLayout(join(dir, 'layout'));
    const seed = `${target}-${rep}-${process.pid}-${Date.now()}`;
    const built = await layout.addImage({
      tag: 'bench',
      layers: [0, 1, 2].map((i) => ({ randomBytes: ctx.settings.skopeoLayerBytes, seed: `${seed}-${i}` })),
    });
    const bytes = built.layers.reduce((n, l) => n + l.size, built.config.size);
    const ref = `docker://${registry}/bench/skopeo-${rep}:latest`;
    await rec.measure(
      'skopeo-push',
      's',
      'bytes',
      async () => {
        const started = performance.now();
        await run('skopeo', ['copy', '--dest-tls-verify=false', layout.ref('bench'), ref], { timeoutMs: 300_000 });
        return { value: seconds(started), work: bytes };
      },
      false,
    );
    await rec.measure(
      'skopeo-pull',
      's',
      'bytes',
      async () => {
        const started = performance.now();
        await run('skopeo', ['copy', '--src-tls-verify=false', ref, `dir:${join(dir, 'pulled')}`], {
          timeoutMs: 300_000,
        });
        return { value: seconds(started), work: bytes };
      },
      false,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
