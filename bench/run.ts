/**
 * `npm run bench [-- --quick] [--targets=berth,distribution] [--only=manifest-get,…] [--profile]`
 *
 * Measures the machine's limits, then runs the same scenarios with the same client against
 * Berth (single process, and `http.workers: 2` when supported) and Debian's docker-registry
 * (CNCF distribution 2.8) when installed, each on its own fresh filesystem storage on the same
 * disk. Prints Markdown tables and writes the same as JSON to bench/results/. In full mode it
 * then runs the GC benchmark (dist/bench/gc.js) when present.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { diskRates, loopbackRate, MIB, sha256Rate, trivialBlobRate, trivialRequestRate } from './limits.js';
import { waitForAnswer } from './processes.js';
import {
  type BenchReport,
  checksTable,
  checkTargets,
  costTable,
  type Limits,
  limitsTable,
  type MemoryResult,
  mainTable,
  median,
  memoryTable,
  type TargetResult,
} from './report.js';
import {
  bigPush,
  createRecorder,
  createSharedData,
  fixedLoads,
  fixedTime,
  MEMORY_BATCHES,
  pull,
  type Recorder,
  type RunContext,
  requestMemory,
  type Settings,
  type SharedData,
  setupReadData,
  skopeoImage,
  smallPushes,
} from './scenarios.js';
import {
  berthSupportsWorkers,
  berthTarget,
  DIST_DIR,
  distributionTarget,
  hasDistribution,
  startTrivial,
  type TargetSpec,
} from './targets.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    targets: { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
  },
});

const quick = args.quick === true;
// Quick mode (about a minute and a half on the 2-core machine) is a look, not the measurement:
// one repetition, and smaller sets where the full sizes mostly cost set-up time.
const settings: Settings = {
  quick,
  reps: quick ? 1 : 5,
  durationMs: quick ? 1000 : 5000,
  bigBytes: 256 * MIB,
  chunkBytes: 8 * MIB,
  smallPushes: quick ? 500 : 2000,
  smallBytes: 4096,
  tags: quick ? 250 : 1000,
  repositories: quick ? 250 : 1000,
  skopeoLayerBytes: (quick ? 8 : 32) * MIB,
  memoryRequests: quick ? 2000 : 10_000,
};
const only = args.only === undefined ? undefined : new Set(args.only.split(','));
const wanted = (id: string): boolean => only === undefined || only.has(id);
const RESULTS_DIR = join(DIST_DIR, '..', 'bench', 'results');

const runStarted = performance.now();

function log(message: string): void {
  const at = ((performance.now() - runStarted) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench ${at} s] ${message}\n`);
}

async function measureLimits(workDir: string, data: SharedData): Promise<Limits> {
  log('machine limits');
  const sha = [sha256Rate(data.big), sha256Rate(data.big), sha256Rate(data.big)];
  const disk = [];
  for (let i = 0; i < settings.reps; i++) disk.push(await diskRates(workDir, data.big));
  const { server, tcpPort } = await startTrivial(settings.bigBytes);
  try {
    const loopBytes = (quick ? 512 : 2048) * MIB;
    await loopbackRate(tcpPort, 64 * MIB, 1);
    const loop1 = [];
    const loop4 = [];
    const blob = [];
    for (let i = 0; i < settings.reps; i++) {
      loop1.push(await loopbackRate(tcpPort, loopBytes, 1));
      loop4.push(await loopbackRate(tcpPort, loopBytes / 4, 4));
      blob.push(await trivialBlobRate(server.port));
    }
    const requests = await trivialRequestRate(server.port, 32, settings.durationMs);
    const sorted = Float64Array.from(requests.latencies).sort();
    return {
      sha256: median(sha),
      diskWriteFsync: median(disk.map((d) => d.writeFsync)),
      diskRead: median(disk.map((d) => d.read)),
      loopback1: median(loop1),
      loopback4: median(loop4),
      httpBlob1: median(blob),
      httpRequests: requests.requests / requests.seconds,
      httpP99: sorted[Math.floor(sorted.length * 0.99)] ?? Number.NaN,
    };
  } finally {
    await server.stop();
  }
}

/** A started target with its context and recorder. */
interface Live {
  spec: TargetSpec;
  ctx: RunContext;
  rec: Recorder;
  rootDir: string;
  configDir: string;
  index: number;
  requests: { before: number; after: number; count: number; samples: number[] } | undefined;
  memory: MemoryResult | undefined;
}

async function startTarget(spec: TargetSpec, data: SharedData, workDir: string, index: number): Promise<Live> {
  const rootDir = join(workDir, spec.name, 'data');
  const configDir = join(workDir, spec.name);
  await mkdir(rootDir, { recursive: true });
  log(`${spec.name}: starting`);
  const { server } = await spec.start(rootDir, configDir);
  const ctx: RunContext = { server, settings, data, memory: { pushGrowth: 0, pushBaseline: 0 } };
  return {
    spec,
    ctx,
    rec: createRecorder(ctx),
    rootDir,
    configDir,
    index,
    requests: undefined,
    memory: undefined,
  };
}

/**
 * Runs every scenario with the targets' repetitions interleaved (A, B, C, A, B, C…), so a
 * change in the machine's load during the run affects all of them alike.
 */
async function runAll(live: readonly Live[], data: SharedData): Promise<void> {
  const { reps } = settings;
  const each = async (label: string, fn: (t: Live) => Promise<void>): Promise<void> => {
    for (const t of live) {
      try {
        await fn(t);
      } catch (error) {
        log(`${t.spec.name}: ${label} failed; server output:\n${t.ctx.server.output().slice(-4000)}`);
        throw error;
      }
    }
  };
  // Each target gets distinct big blobs, so no registry finds the data of another run.
  const variant = (t: Live, n: number): number => t.index * reps * 2 + n;
  const bigWanted = ['push-256m', 'push-chunked', 'pull-1', 'pull-4'].some(wanted);
  if (bigWanted) {
    log('push-256m');
    for (let rep = 0; rep < reps; rep++) await each('push-256m', (t) => bigPush(t.ctx, t.rec, false, variant(t, rep)));
    log('push-chunked');
    for (let rep = 0; rep < reps; rep++) {
      await each('push-chunked', (t) => bigPush(t.ctx, t.rec, true, variant(t, reps + rep)));
    }
    const last = (t: Live): string => data.bigVariant(variant(t, 2 * reps - 1));
    for (const streams of [1, 4]) {
      if (!wanted(`pull-${streams}`)) continue;
      log(`pull-${streams}`);
      await each('pull warm-up', (t) => pull(t.ctx, undefined, last(t), streams));
      for (let rep = 0; rep < reps; rep++) await each('pull', (t) => pull(t.ctx, t.rec, last(t), streams));
    }
  }
  if (wanted('small-pushes')) {
    log('small-pushes');
    for (let rep = 0; rep < reps; rep++) await each('small-pushes', (t) => smallPushes(t.ctx, t.rec, rep));
  }
  const loads = fixedLoads(data).filter((l) => wanted(l.id));
  const needsReadData = loads.length > 0 || wanted('memory') || wanted('startup');
  if (needsReadData) {
    log(`setting up ${settings.tags} tags and ${settings.repositories} repositories`);
    await each('setup', (t) => setupReadData(t.ctx));
  }
  for (const load of loads) {
    log(load.id);
    await each(load.id, (t) => fixedTime(t.ctx, undefined, load));
    for (let rep = 0; rep < reps; rep++) await each(load.id, (t) => fixedTime(t.ctx, t.rec, load));
  }
  if (wanted('skopeo')) {
    log('skopeo');
    // Whole-image copies mostly measure skopeo itself: one repetition is enough for a quick look.
    const skopeoReps = settings.quick ? 1 : reps;
    for (let rep = 0; rep < skopeoReps; rep++) {
      await each('skopeo', (t) => skopeoImage(t.ctx, t.rec, t.spec.name, rep));
    }
  }
  if (wanted('memory')) {
    log(`memory across ${MEMORY_BATCHES} batches of ${settings.memoryRequests} requests`);
    await each('memory', async (t) => {
      t.requests = await requestMemory(t.ctx, fixedLoads(data).slice(0, 3));
    });
  }
  for (const t of live) await t.ctx.server.stop();
  if (needsReadData) {
    log(`start-up with ${settings.repositories} repositories on disk`);
    // Repeated like every scenario: one start on a shared 2-core machine swings by 100 ms and more.
    const samples = new Map<Live, { answer: number[]; catalog: number[] }>(
      live.map((t) => [t, { answer: [], catalog: [] }]),
    );
    for (let rep = 0; rep < reps; rep++) {
      await each('start-up', async (t) => {
        const again = await t.spec.start(t.rootDir, t.configDir);
        t.ctx.server = again.server;
        const alive = () => again.server.child.exitCode === null;
        const catalogMs = await waitForAnswer(
          again.server.host,
          again.server.port,
          '/v2/_catalog?n=1',
          again.spawnedAt,
          alive,
        );
        samples.get(t)?.answer.push(again.startupMs);
        samples.get(t)?.catalog.push(catalogMs);
        await again.server.stop();
      });
    }
    for (const t of live) {
      t.memory = {
        ...(wanted('push-256m') ? { pushGrowth: t.ctx.memory.pushGrowth } : {}),
        ...(t.requests === undefined ? {} : { requests: t.requests }),
        startupSamples: samples.get(t)?.answer ?? [],
        startupCatalogSamples: samples.get(t)?.catalog ?? [],
        repositoriesOnDisk: settings.repositories + 4,
      };
    }
  }
}

function distributionVersion(): string | undefined {
  const out = spawnSync('docker-registry', ['--version'], { encoding: 'utf8' });
  return out.status === 0 ? out.stdout.trim() : undefined;
}

async function main(): Promise<void> {
  const started = performance.now();
  const workDir = await mkdtemp(join(tmpdir(), 'berth-bench-'));
  try {
    const loadBefore = loadavg()[0] ?? 0;
    if (loadBefore > availableParallelism() / 2) {
      log(
        `warning: load average ${loadBefore.toFixed(1)} on ${availableParallelism()} CPUs: other work will skew the numbers`,
      );
    }
    log(`preparing data (${settings.bigBytes / MIB} MiB blob, ${settings.smallPushes * settings.reps} small blobs)`);
    const data = createSharedData(settings);
    const limits = await measureLimits(workDir, data);
    const profileDir = args.profile ? join(RESULTS_DIR, 'profiles') : undefined;
    const clusters = await berthSupportsWorkers();
    // `http.workers` defaults to the CPU count: the single-process run sets 1 explicitly.
    let specs: TargetSpec[] = [berthTarget('berth', { cpuProfDir: profileDir, ...(clusters ? { workers: 1 } : {}) })];
    if (clusters) specs.push(berthTarget('berth-2w', { workers: 2, cpuProfDir: profileDir }));
    if (hasDistribution()) specs.push(distributionTarget());
    else log('docker-registry (CNCF distribution) is not installed: Berth only');
    if (args.targets !== undefined) {
      const names = new Set(args.targets.split(','));
      specs = specs.filter((s) => names.has(s.name));
    }
    const live: Live[] = [];
    try {
      for (const [i, spec] of specs.entries()) live.push(await startTarget(spec, data, workDir, i));
      await runAll(live, data);
    } finally {
      for (const t of live) await t.ctx.server.stop();
    }
    const targets: TargetResult[] = live.map((t) => ({
      name: t.spec.name,
      scenarios: t.rec.results(),
      memory: t.memory,
    }));
    const report: BenchReport = {
      startedAt: new Date().toISOString(),
      quick,
      machine: {
        cpus: availableParallelism(),
        cpuModel: cpus()[0]?.model ?? 'unknown',
        memoryBytes: totalmem(),
        node: process.version,
        loadAverage: { before: loadBefore, after: loadavg()[0] ?? 0 },
        ...(hasDistribution() ? { distribution: distributionVersion() ?? 'unknown' } : {}),
      },
      limits,
      targets,
      checks: [],
    };
    report.checks = checkTargets(report);
    const out = [
      `## Berth benchmark (${quick ? 'quick' : 'full'}), ${report.startedAt}`,
      `${report.machine.cpus} × ${report.machine.cpuModel}, ${Math.round(report.machine.memoryBytes / 2 ** 30)} GiB, Node ${report.machine.node}${report.machine.distribution ? `, ${report.machine.distribution}` : ''}; load average ${report.machine.loadAverage.before.toFixed(1)} before, ${report.machine.loadAverage.after.toFixed(1)} after`,
      `${settings.reps} repetition(s) per scenario; ${settings.tags} tags in the tags-list repository, ${settings.repositories} repositories in the catalog, ${settings.smallPushes} small pushes per repetition, ${settings.memoryRequests.toLocaleString('en')} requests of warm-up and then per batch (${MEMORY_BATCHES} batches) in the memory check`,
      '',
      limitsTable(limits),
      '',
      mainTable(report),
      '',
      costTable(report),
      '',
      memoryTable(report),
      '',
      checksTable(report.checks),
      '',
    ].join('\n');
    process.stdout.write(out);
    await mkdir(RESULTS_DIR, { recursive: true });
    const stamp = report.startedAt.replace(/[:.]/g, '-');
    const json = JSON.stringify(report, null, 2);
    await writeFile(join(RESULTS_DIR, `${stamp}.json`), json);
    await writeFile(join(RESULTS_DIR, 'latest.json'), json);
    await writeFile(join(RESULTS_DIR, 'latest.md'), out);
    log(`results written to bench/results/${stamp}.json (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    const gc = join(DIST_DIR, 'bench', 'gc.js');
    if (!quick && only === undefined && existsSync(gc)) {
      log('running the GC benchmark (dist/bench/gc.js)');
      const result = spawnSync(process.execPath, ['--enable-source-maps', gc], { stdio: 'inherit' });
      if (result.status !== 0) process.exitCode = 1;
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
