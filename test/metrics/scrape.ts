/**
 * Scrapes a Berth debug listener. Every exposition is first checked by Prometheus' own parser
 * (`promtool check metrics`, which rejects what a Prometheus server could not ingest), then read
 * with a small reader of the text format (version 0.0.4) for the tests' assertions. The npm
 * parsers available mangle labelled histograms, so the values are read here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

export interface Sample {
  /** The series name as written (`…_bucket`, `…_sum`, `…_count` for histograms). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const match = LABEL.exec(text);
    assert.ok(match, `malformed labels at ${at} in ${JSON.stringify(line)}`);
    labels[match[1] ?? ''] = unescapeLabel(match[2] ?? '');
  }
  return labels;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  // Prometheus reads floats as Go's ParseFloat does: "NaN" in any case (prom-client writes "Nan").
  if (text.toLowerCase() === 'nan') return Number.NaN;
  const value = Number(text);
  assert.ok(!Number.isNaN(value), `bad sample value ${text}`);
  return value;
}

export class Scrape {
  readonly text: string;
  /** Family name → declared type (`counter`, `gauge`, `histogram`…). */
  readonly types: ReadonlyMap<string, string>;
  readonly series: readonly Sample[];

  constructor(text: string) {
    this.text = text;
    const types = new Map<string, string>();
    const series: Sample[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type !== null) types.set(type[1] ?? '', type[2] ?? '');
      if (line.startsWith('#')) continue;
      const match = SAMPLE.exec(line);
      assert.ok(match, `malformed sample line ${JSON.stringify(line)}`);
      series.push({
        name: match[1] ?? '',
        labels: parseLabels(match[2] ?? '', line),
        value: parseValue(match[3] ?? ''),
      });
    }
    this.types = types;
    this.series = series;
  }

  /** Whether a family of that name was exposed. */
  has(name: string): boolean {
    return this.types.has(name);
  }

  /** The samples of series `name` whose labels include every pair of `labels`. */
  samples(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.series.filter(
      (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    );
  }

  /** The sum of the matching counter or gauge samples (0 when none match). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.samples(name, labels).reduce((total, sample) => total + sample.value, 0);
  }

  /** The summed `_count` and `_sum` of the matching histogram series. */
  histogram(name: string, labels: Record<string, string> = {}): { count: number; sum: number } {
    return { count: this.value(`${name}_count`, labels), sum: this.value(`${name}_sum`, labels) };
  }

  /** The family's declared type. */
  type(name: string): string | undefined {
    return this.types.get(name);
  }
}

/** Runs `promtool check metrics` on `text`; rejects with promtool's complaint when it finds an error. */
export async function promtoolCheck(text: string): Promise<void> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  child.stdin.end(text);
  const code = await exited;
  // Exit 3 is promtool's "lint problems" (naming advice); 1 means it could not parse the input.
  assert.ok(code === 0 || code === 3, `promtool check metrics exited ${code}: ${output}`);
  assert.doesNotMatch(output, /error/i, output);
}

/** GETs `url` (a metrics path), checks it with promtool and reads it. */
export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  const text = await res.text();
  assert.equal(res.status, 200, `scrape ${url}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  await promtoolCheck(text);
  return new Scrape(text);
}
