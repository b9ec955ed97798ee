/** A content snapshot of a directory tree, to prove that a series of requests changed nothing. */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** Relative path → `dir`, `link -> target`, or the file's size and sha256. */
export type Snapshot = Map<string, string>;

export async function snapshotTree(root: string): Promise<Snapshot> {
  const out: Snapshot = new Map();
  const visit = async (dir: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const path = join(dir, name);
      const rel = relative(root, path);
      const info = await lstat(path);
      if (info.isDirectory()) {
        out.set(rel, 'dir');
        await visit(path);
      } else if (info.isSymbolicLink()) {
        out.set(rel, `link -> ${await readlink(path)}`);
      } else {
        const bytes = await readFile(path);
        out.set(rel, `${bytes.length} ${createHash('sha256').update(bytes).digest('hex')}`);
      }
    }
  };
  await visit(root);
  return out;
}

/** Human-readable differences between two snapshots (empty when equal). */
export function diffSnapshots(before: Snapshot, after: Snapshot): string[] {
  const lines: string[] = [];
  for (const [path, value] of before) {
    const now = after.get(path);
    if (now === undefined) lines.push(`removed ${path}`);
    else if (now !== value) lines.push(`changed ${path}: ${value} → ${now}`);
  }
  for (const path of after.keys()) if (!before.has(path)) lines.push(`added ${path}`);
  return lines;
}
