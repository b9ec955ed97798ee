/**
 * The in-memory driver: a tree of immutable Buffers with the filesystem driver's semantics, for
 * fast service tests and `storage: inmemory` configurations. A directory exists exactly while
 * some file lies below it (the root always exists). Every mutation happens synchronously
 * between awaits, so each operation is atomic with respect to the others.
 */
import { Readable } from 'node:stream';
import type { FileInfo, FileWriter, StorageDriver } from '../driver.js';
import { ContentTooLargeError, InvalidOffsetError, PathNotFoundError } from '../errors.js';
import { baseName, isAncestorPath, joinPath, parentPath, pathComponents, validatePath, walkTree } from '../paths.js';
import { abortable, checkRead } from './common.js';
import { WriterLifecycle } from './writer-state.js';

interface FileNode {
  kind: 'file';
  /** Never mutated once stored, so readers and appenders can share them. */
  chunks: readonly Buffer[];
  size: number;
  modTime: Date;
}

interface DirNode {
  kind: 'dir';
  children: Map<string, Node>;
  modTime: Date;
}

type Node = FileNode | DirNode;

/** Size of the pieces a reader emits, so large objects stream with backpressure. */
const READ_PIECE = 1024 * 1024;

function concat(chunks: readonly Buffer[], size: number): Buffer {
  return Buffer.concat(chunks as Buffer[], size);
}

function toBuffer(chunk: Uint8Array): Buffer {
  // Buffer.from copies a view: callers may reuse their buffers after the call returns.
  return Buffer.from(chunk);
}

export function createInMemoryDriver(): StorageDriver {
  const root: DirNode = { kind: 'dir', children: new Map(), modTime: new Date() };

  function lookup(path: string): Node | undefined {
    let node: Node = root;
    for (const name of pathComponents(path)) {
      if (node.kind !== 'dir') return undefined;
      const child: Node | undefined = node.children.get(name);
      if (child === undefined) return undefined;
      node = child;
    }
    return node;
  }

  function lookupFile(path: string): FileNode {
    const node = lookup(path);
    if (node?.kind !== 'file') throw new PathNotFoundError(path);
    return node;
  }

  /** The directory that holds `path`, created as needed. */
  function parentDir(path: string): DirNode {
    let dir = root;
    const names = pathComponents(path).slice(0, -1);
    for (const name of names) {
      const child = dir.children.get(name);
      if (child === undefined) {
        const created: DirNode = { kind: 'dir', children: new Map(), modTime: new Date() };
        dir.children.set(name, created);
        dir.modTime = created.modTime;
        dir = created;
      } else if (child.kind === 'file') {
        throw new Error(`cannot create ${path}: a file lies on its path`);
      } else {
        dir = child;
      }
    }
    return dir;
  }

  function attach(path: string, node: Node): void {
    const dir = parentDir(path);
    const name = baseName(path);
    const existing = dir.children.get(name);
    if (existing?.kind === 'dir') throw new Error(`cannot replace directory ${path}`);
    dir.children.set(name, node);
    dir.modTime = new Date();
  }

  function storeFile(path: string, chunks: readonly Buffer[], size: number): void {
    attach(path, { kind: 'file', chunks, size, modTime: new Date() });
  }

  /** Unlinks the node at `path` without pruning, so the caller can attach elsewhere first. */
  function detach(path: string): Node {
    const parent = lookup(parentPath(path));
    const name = baseName(path);
    const node = parent?.kind === 'dir' ? parent.children.get(name) : undefined;
    if (parent?.kind !== 'dir' || node === undefined) throw new PathNotFoundError(path);
    parent.children.delete(name);
    parent.modTime = new Date();
    return node;
  }

  /** Removes directories left empty above `path`: directories exist only to hold files. */
  function prune(path: string): void {
    let dir = parentPath(path);
    while (dir !== '/') {
      const node = lookup(dir);
      if (node?.kind !== 'dir' || node.children.size > 0) return;
      detach(dir);
      dir = parentPath(dir);
    }
  }

  function remove(path: string): void {
    detach(path);
    prune(path);
  }

  function describe(path: string, node: Node): FileInfo {
    return { path, size: node.kind === 'file' ? node.size : 0, modTime: node.modTime, isDir: node.kind === 'dir' };
  }

  function* pieces(file: FileNode, start: number, end: number): Generator<Buffer> {
    let base = 0;
    for (const chunk of file.chunks) {
      const from = Math.max(start - base, 0);
      const to = Math.min(end - base, chunk.length);
      for (let i = from; i < to; i += READ_PIECE) {
        yield Buffer.from(chunk.subarray(i, Math.min(i + READ_PIECE, to)));
      }
      base += chunk.length;
      if (base >= end) return;
    }
  }

  function createWriter(path: string, append: boolean): FileWriter {
    const existing = append ? lookup(path) : undefined;
    if (existing?.kind === 'dir') throw new Error(`cannot write ${path}: it is a directory`);
    const base: readonly Buffer[] = existing?.chunks ?? [];
    const initialSize = existing?.size ?? 0;
    const added: Buffer[] = [];
    let size = initialSize;
    const lifecycle = new WriterLifecycle();

    return {
      get size() {
        return size;
      },
      write(src, opts) {
        return lifecycle.writeChunks(src, opts?.signal, (chunk) => {
          added.push(toBuffer(chunk));
          size += chunk.length;
        });
      },
      async commit(opts) {
        lifecycle.assertReady('commit');
        opts?.signal?.throwIfAborted();
        storeFile(path, [...base, ...added], size);
        lifecycle.markCommitted();
      },
      async close() {
        lifecycle.markClosed();
      },
      async cancel() {
        if (!lifecycle.markCancelled()) return;
        if (append && lookup(path)?.kind === 'file') remove(path);
      },
    };
  }

  return {
    name: 'inmemory',

    async getContent(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      const file = lookupFile(path);
      if (opts?.maxBytes !== undefined && file.size > opts.maxBytes) {
        throw new ContentTooLargeError(path, opts.maxBytes);
      }
      return concat(file.chunks, file.size);
    },

    async putContent(path, content, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      storeFile(path, [toBuffer(content)], content.byteLength);
    },

    async reader(path, opts) {
      const { offset, length } = checkRead(path, opts);
      const file = lookupFile(path);
      if (offset > file.size) throw new InvalidOffsetError(path, offset);
      const end = length === undefined ? file.size : Math.min(file.size, offset + length);
      const stream = Readable.from(pieces(file, offset, end), { objectMode: false });
      return abortable(stream, opts?.signal);
    },

    async writer(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      return createWriter(path, opts?.append === true);
    },

    async stat(path, opts) {
      validatePath(path, true);
      opts?.signal?.throwIfAborted();
      const node = lookup(path);
      if (node === undefined) throw new PathNotFoundError(path);
      return describe(path, node);
    },

    async list(path, opts) {
      validatePath(path, true);
      opts?.signal?.throwIfAborted();
      const node = lookup(path);
      if (node?.kind !== 'dir') throw new PathNotFoundError(path);
      return [...node.children.keys()].sort().map((name) => joinPath(path, name));
    },

    async move(from, to, opts) {
      validatePath(from);
      validatePath(to);
      opts?.signal?.throwIfAborted();
      const node = lookup(from);
      if (node === undefined) throw new PathNotFoundError(from);
      if (from === to) return;
      if (isAncestorPath(from, to)) throw new Error(`cannot move ${from} below itself`);
      const dest = lookup(to);
      if (dest?.kind === 'dir' || (node.kind === 'dir' && dest !== undefined)) {
        throw new Error(`cannot move ${from} onto existing ${to}`);
      }
      // Create the destination's parents first: it throws, leaving everything untouched, when a
      // file lies on the way; and attaching before pruning keeps a shared parent alive.
      parentDir(to);
      detach(from);
      attach(to, node);
      prune(from);
    },

    async delete(path, opts) {
      validatePath(path);
      opts?.signal?.throwIfAborted();
      remove(path);
    },

    async *walk(path, opts) {
      validatePath(path, true);
      if (opts?.startAfter !== undefined) validatePath(opts.startAfter, true);
      yield* walkTree<FileInfo>(
        {
          names: async (dir) => {
            const node = lookup(dir);
            return node?.kind === 'dir' ? [...node.children.keys()] : undefined;
          },
          info: async (p) => {
            const node = lookup(p);
            return node === undefined ? undefined : describe(p, node);
          },
        },
        path,
        { signal: opts?.signal, startAfter: opts?.startAfter, descend: opts?.descend },
      );
    },
  };
}
