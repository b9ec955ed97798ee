/**
 * Turns the measurements into the printed tables (Markdown, so a run can be pasted into the
 * README) and checks them against the targets of the performance issue.
 */
import type { ScenarioResult } from './scenarios.js';

export interface Limits {
  sha256: number;
  diskWriteFsync: number;
  diskRead: number;
  loopback1: number;
  loopback4: number;
  httpBlob1: number;
  httpRequests: number;
  httpP99: number;
}

export interface MemoryResult {
  /** Peak RSS minus RSS before, during the 256 MiB pushes (worst one); absent when they did not run. */
  pushGrowth?: number;
  /**
   * RSS after a warm-up of `count` requests and after each further batch of `count` (`samples`;
   * older results have only `before` and `after`, one batch); absent when that did not run.
   */
  requests?: { before: number; after: number; count: number; samples?: number[] };
  /** Spawn → first `GET /v2/` answered, with the repositories on disk; one per repetition. */
  startupSamples: number[];
  /** Spawn → first `_catalog` answered; one per repetition. */
  startupCatalogSamples: number[];
  repositoriesOnDisk: number;
}

export interface TargetResult {
  name: string;
  scenarios: ScenarioResult[];
  memory: MemoryResult | undefined;
}

export interface BenchReport {
  startedAt: string;
  quick: boolean;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryBytes: number;
    node: string;
    distribution?: string;
    /** One-minute load average at the start and the end of the run: other work skews results. */
    loadAverage: { before: number; after: number };
  };
  limits: Limits;
  targets: TargetResult[];
  checks: Check[];
}

export interface Check {
  target: string;
  what: string;
  goal: string;
  actual: string;
  pass: boolean;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

const mib = (bytes: number): string => `${fmt(bytes / 1024 / 1024)} MiB`;

/** The median of `samples`, with their range when there are several. */
function spread(samples: readonly number[]): string {
  if (samples.length === 0) return '–';
  const m = fmt(median(samples));
  if (samples.length === 1) return m;
  return `${m} (${fmt(Math.min(...samples))}–${fmt(Math.max(...samples))})`;
}

function withRange(result: ScenarioResult | undefined): string {
  return result === undefined ? '–' : spread(result.samples);
}

/** How many times better `a` is than `b` (higher is better, or lower for times). */
function ratio(a: ScenarioResult | undefined, b: ScenarioResult | undefined): number {
  if (a === undefined || b === undefined) return Number.NaN;
  const x = median(a.samples);
  const y = median(b.samples);
  return a.higherIsBetter ? x / y : y / x;
}

/** The machine limit a scenario is compared with, and its name. */
export function limitFor(id: string, limits: Limits): { value: number; name: string } | undefined {
  switch (id) {
    case 'push-256m':
    case 'push-chunked':
      return { value: limits.diskWriteFsync, name: 'disk write+fsync' };
    case 'pull-1':
      return { value: limits.loopback1, name: 'loopback TCP, 1 stream' };
    case 'pull-4':
      return { value: limits.loopback4, name: 'loopback TCP, 4 streams' };
    case 'small-pushes':
      // A push is two requests.
      return { value: limits.httpRequests / 2, name: 'trivial HTTP server ÷ 2' };
    case 'manifest-get':
    case 'blob-head':
    case 'tags-list':
    case 'catalog':
      return { value: limits.httpRequests, name: 'trivial HTTP server' };
    default:
      return undefined;
  }
}

export function cpuCost(result: ScenarioResult): string {
  if (result.work === 0) return '–';
  if (result.workUnit === 'bytes') return `${fmt(result.cpuSeconds / (result.work / 1e9))} s/GB`;
  return `${fmt((result.cpuSeconds * 1000) / result.work)} ms/req`;
}

function find(target: TargetResult | undefined, id: string): ScenarioResult | undefined {
  return target?.scenarios.find((s) => s.id === id);
}

/** The main table: one row per scenario, one column per target, ratios and limits. */
export function mainTable(report: BenchReport): string {
  const berths = report.targets.filter((t) => t.name !== 'distribution');
  const dist = report.targets.find((t) => t.name === 'distribution');
  const ids = [...new Set(report.targets.flatMap((t) => t.scenarios.map((s) => s.id)))];
  const head = [
    'scenario',
    'unit',
    ...report.targets.map((t) => t.name),
    ...(dist === undefined ? [] : berths.map((b) => `${b.name} ÷ dist`)),
    ...berths.map((b) => `${b.name} % of limit`),
    'limit',
  ];
  const rows = ids.map((id) => {
    const any = report.targets.map((t) => find(t, id)).find((s) => s !== undefined) as ScenarioResult;
    const limit = limitFor(id, report.limits);
    return [
      id,
      any.unit,
      ...report.targets.map((t) => withRange(find(t, id))),
      ...(dist === undefined ? [] : berths.map((b) => `${fmt(ratio(find(b, id), find(dist, id)))}×`)),
      ...berths.map((b) => {
        const s = find(b, id);
        return limit === undefined || s === undefined ? '–' : `${fmt((median(s.samples) / limit.value) * 100)}%`;
      }),
      limit === undefined ? '–' : `${fmt(limit.value)} ${any.unit} (${limit.name})`,
    ];
  });
  return markdown(head, rows);
}

/** Server cost and latency: one row per scenario and target. */
export function costTable(report: BenchReport): string {
  const rows: string[][] = [];
  const ids = [...new Set(report.targets.flatMap((t) => t.scenarios.map((s) => s.id)))];
  for (const id of ids) {
    for (const target of report.targets) {
      const s = find(target, id);
      if (s === undefined) continue;
      rows.push([
        id,
        target.name,
        cpuCost(s),
        mib(s.peakRss),
        s.p50 === undefined ? '–' : fmt(s.p50),
        s.p99 === undefined ? '–' : fmt(s.p99),
      ]);
    }
  }
  return markdown(['scenario', 'server', 'server CPU', 'peak RSS', 'p50 ms', 'p99 ms'], rows);
}

type RequestMemory = NonNullable<MemoryResult['requests']>;

/** RSS after the warm-up and after each batch. */
function rssSeries(r: RequestMemory): number[] {
  return r.samples ?? [r.before, r.after];
}

/** Growth per batch of `count` requests (MiB): one value per batch. */
export function batchGrowths(r: RequestMemory): number[] {
  const series = rssSeries(r);
  return series.slice(1).map((rss, i) => (rss - (series[i] as number)) / 1024 / 1024);
}

function requestMemoryText(r: RequestMemory): string {
  const series = rssSeries(r);
  const batches = series.length - 1;
  return `${series.map(mib).join(' → ')} (${batches > 1 ? `${batches} × ` : ''}${r.count.toLocaleString('en')})`;
}

export function memoryTable(report: BenchReport): string {
  const rows = report.targets
    .filter((t) => t.memory !== undefined)
    .map((t) => {
      const m = t.memory as MemoryResult;
      return [
        t.name,
        m.pushGrowth === undefined ? '–' : mib(m.pushGrowth),
        m.requests === undefined ? '–' : requestMemoryText(m.requests),
        `${spread(m.startupSamples)} ms`,
        `${spread(m.startupCatalogSamples)} ms`,
      ];
    });
  return markdown(
    [
      'server',
      'RSS growth during 256 MiB push',
      'RSS across the memory check (requests)',
      'start-up to first answer',
      'start-up to first _catalog',
    ],
    rows,
  );
}

export function limitsTable(limits: Limits): string {
  return markdown(
    ['machine limit', 'value'],
    [
      ['sha256, one core', `${fmt(limits.sha256)} MiB/s`],
      ['disk sequential write + fsync', `${fmt(limits.diskWriteFsync)} MiB/s`],
      ['disk sequential read (page cache)', `${fmt(limits.diskRead)} MiB/s`],
      ['loopback TCP, 1 stream', `${fmt(limits.loopback1)} MiB/s`],
      ['loopback TCP, 4 streams', `${fmt(limits.loopback4)} MiB/s`],
      ['bench client ← trivial HTTP server, 1 stream body', `${fmt(limits.httpBlob1)} MiB/s`],
      ['bench client → trivial HTTP server, c=32', `${fmt(limits.httpRequests)} req/s (p99 ${fmt(limits.httpP99)} ms)`],
    ],
  );
}

function markdown(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

/** The issue's targets, checked for every Berth variant. */
export function checkTargets(report: BenchReport): Check[] {
  const checks: Check[] = [];
  const dist = report.targets.find((t) => t.name === 'distribution');
  for (const berth of report.targets.filter((t) => t.name !== 'distribution')) {
    const add = (what: string, goal: string, actual: number, pass: boolean, unit = ''): void => {
      checks.push({ target: berth.name, what, goal, actual: `${fmt(actual)}${unit}`, pass });
    };
    const versus = (id: string, times: number): void => {
      const r = ratio(find(berth, id), find(dist, id));
      if (Number.isFinite(r)) add(`${id} vs distribution`, `≥ ${times}×`, r, r >= times, '×');
    };
    const ofLimit = (id: string, percent: number): void => {
      const s = find(berth, id);
      const limit = limitFor(id, report.limits);
      if (s === undefined || limit === undefined) return;
      const p = (median(s.samples) / limit.value) * 100;
      add(`${id} of ${limit.name}`, `≥ ${percent}%`, p, p >= percent, '%');
    };
    if (dist !== undefined) {
      versus('push-256m', 3);
      versus('push-chunked', 3);
      for (const id of ['small-pushes', 'manifest-get', 'blob-head', 'tags-list']) versus(id, 5);
      versus('catalog', 20);
    }
    ofLimit('push-256m', 80);
    ofLimit('pull-1', 85);
    const manifest = find(berth, 'manifest-get');
    if (manifest?.p99 !== undefined)
      add('manifest-get p99 at c=32', '≤ 20 ms', manifest.p99, manifest.p99 <= 20, ' ms');
    const m = berth.memory;
    if (m !== undefined) {
      if (m.pushGrowth !== undefined) {
        const growth = m.pushGrowth / 1024 / 1024;
        add('RSS growth during a 256 MiB push', '≤ 64 MiB', growth, growth <= 64, ' MiB');
      }
      if (m.requests !== undefined) {
        const growth = median(batchGrowths(m.requests));
        add(
          `RSS growth across ${m.requests.count.toLocaleString('en')} requests (median batch)`,
          '≤ 4 MiB',
          growth,
          growth <= 4,
          ' MiB',
        );
      }
      const startup = median(m.startupSamples);
      add(`start-up with ${m.repositoriesOnDisk} repositories`, '≤ 500 ms', startup, startup <= 500, ' ms');
    }
  }
  return checks;
}

export function checksTable(checks: readonly Check[]): string {
  return markdown(
    ['server', 'target', 'goal', 'measured', ''],
    checks.map((c) => [c.target, c.what, c.goal, c.actual, c.pass ? 'ok' : 'MISSED']),
  );
}
