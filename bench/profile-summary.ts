/**
 * Summarises `--cpu-prof` profiles (from `npm run bench -- --profile`, in
 * bench/results/profiles/): the functions with the most self time and the source files with the
 * most total self time, so a run's hot spots read in a terminal.
 *
 * Usage: node dist/bench/profile-summary.js [profile.cpuprofile…] (default: every profile in
 * bench/results/profiles, merged)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIST_DIR } from './targets.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function shortUrl(url: string): string {
  const at = url.search(/\/(src|bench|test|node_modules)\//);
  if (at >= 0) return url.slice(at + 1);
  return url === '' ? '(native)' : url.replace(/^node:/, 'node:');
}

const files =
  process.argv.length > 2
    ? process.argv.slice(2)
    : readdirSync(join(DIST_DIR, '..', 'bench', 'results', 'profiles'))
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(DIST_DIR, '..', 'bench', 'results', 'profiles', f));

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
let totalMs = 0;
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const node = nodes.get(samples[i] as number);
    if (node === undefined) continue;
    const ms = (deltas[i] ?? 0) / 1000;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    totalMs += ms;
    const where = shortUrl(url);
    const key = `${functionName || '(anonymous)'} ${where}${url === '' ? '' : `:${lineNumber + 1}`}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
    byFile.set(where, (byFile.get(where) ?? 0) + ms);
  }
}

function top(map: Map<string, number>, n: number): string {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, ms]) => `${ms.toFixed(0).padStart(8)} ms ${((ms / totalMs) * 100).toFixed(1).padStart(5)}%  ${key}`)
    .join('\n');
}

process.stdout.write(
  `${files.length} profile(s), ${totalMs.toFixed(0)} ms of non-idle samples\n\n` +
    `self time by function:\n${top(byFunction, 40)}\n\nself time by file:\n${top(byFile, 25)}\n`,
);
