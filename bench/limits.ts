/**
 * The machine's own limits, measured in the same run as the registries: sha256 on one core,
 * sequential write+fsync and read of the storage disk, loopback TCP (1 and 4 streams), and the
 * benchmark client against a trivial HTTP server (request rate, and one-stream body receive).
 */
import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { closeAll, connections, HttpConnection, type LoadResult, runLoad } from './http-client.js';

export const MIB = 1024 * 1024;

/** Bytes per second → MiB/s. */
export function mibPerSecond(bytes: number, seconds: number): number {
  return bytes / MIB / seconds;
}

/** sha256 of `data` in 1 MiB updates, as a streaming server would hash it. */
export function sha256Rate(data: Buffer): number {
  const started = performance.now();
  const hash = createHash('sha256');
  for (let at = 0; at < data.length; at += MIB) hash.update(data.subarray(at, at + MIB));
  hash.digest();
  return mibPerSecond(data.length, (performance.now() - started) / 1000);
}

/** Writes `data` to a new file in `dir` in 1 MiB writes, fsyncs, then reads it back. */
export async function diskRates(dir: string, data: Buffer): Promise<{ writeFsync: number; read: number }> {
  const path = join(dir, `.bench-disk-${process.pid}`);
  try {
    let started = performance.now();
    const out = await open(path, 'w');
    try {
      for (let at = 0; at < data.length; at += MIB) await out.write(data, at, Math.min(MIB, data.length - at));
      await out.sync();
    } finally {
      await out.close();
    }
    const writeFsync = mibPerSecond(data.length, (performance.now() - started) / 1000);
    started = performance.now();
    const input = await open(path, 'r');
    const buf = Buffer.allocUnsafe(4 * MIB);
    let total = 0;
    try {
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        total += bytesRead;
      }
    } finally {
      await input.close();
    }
    return { writeFsync, read: mibPerSecond(total, (performance.now() - started) / 1000) };
  } finally {
    await rm(path, { force: true });
  }
}

/** Receives `bytes` on each of `streams` connections from the trivial TCP sender. */
export async function loopbackRate(port: number, bytes: number, streams: number): Promise<number> {
  const sockets = await Promise.all(
    Array.from({ length: streams }, () => {
      let received = 0;
      let done: () => void = () => {};
      const buffer = Buffer.allocUnsafe(4 * MIB);
      return new Promise<{ run: () => Promise<void>; close: () => void }>((resolve, reject) => {
        const socket = connect({
          host: '127.0.0.1',
          port,
          noDelay: true,
          onread: {
            buffer,
            callback: (nread: number) => {
              received += nread;
              if (received >= bytes) done();
              return true;
            },
          },
        });
        socket.once('error', reject);
        socket.once('connect', () =>
          resolve({
            run: () =>
              new Promise<void>((finish) => {
                received = 0;
                done = finish;
                const header = Buffer.alloc(8);
                header.writeBigUInt64BE(BigInt(bytes));
                socket.write(header);
              }),
            close: () => socket.destroy(),
          }),
        );
      });
    }),
  );
  const started = performance.now();
  await Promise.all(sockets.map((s) => s.run()));
  const seconds = (performance.now() - started) / 1000;
  for (const s of sockets) s.close();
  return mibPerSecond(bytes * streams, seconds);
}

/** The benchmark client's request rate against the trivial server at `concurrency`. */
export async function trivialRequestRate(port: number, concurrency: number, durationMs: number): Promise<LoadResult> {
  const conns = connections('127.0.0.1', port, concurrency, 64 * 1024);
  try {
    await runLoad(conns, () => ({ method: 'GET', path: '/small' }), { durationMs: Math.min(300, durationMs) });
    return await runLoad(conns, () => ({ method: 'GET', path: '/small' }), { durationMs });
  } finally {
    closeAll(conns);
  }
}

/** One-stream receive rate of the benchmark client over HTTP from the trivial server's `/blob`. */
export async function trivialBlobRate(port: number): Promise<number> {
  const conn = new HttpConnection('127.0.0.1', port, 4 * MIB);
  try {
    const started = performance.now();
    const response = await conn.request({ method: 'GET', path: '/blob' });
    return mibPerSecond(response.bodyBytes, (performance.now() - started) / 1000);
  } finally {
    conn.close();
  }
}
