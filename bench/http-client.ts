/**
 * A minimal HTTP/1.1 client on a raw socket, so the benchmark measures the server rather than
 * the client: keep-alive, one request in flight per connection, headers parsed by hand, and
 * bodies received through `onread` into one reused buffer (no per-read allocation, up to the
 * buffer's size per syscall) and counted unless the caller asks to keep them. The machine-limit
 * runs use this same client against a trivial server to show it is not the bottleneck.
 */
import { connect, type Socket } from 'node:net';

export interface RequestSpec {
  method: string;
  /** Path and query, sent as is. */
  path: string;
  /** Extra headers (Host and Content-Length are added). */
  headers?: Record<string, string | number>;
  /** The request body; one buffer or a list written in order. */
  body?: Buffer | readonly Buffer[];
  /** Keep the response body (default: only count its bytes). */
  keepBody?: boolean;
}

export interface Response {
  status: number;
  /** Lower-cased header names; a repeated header keeps its last value. */
  headers: Record<string, string>;
  /** Body bytes received. */
  bodyBytes: number;
  /** The body, when `keepBody` was set. */
  body: Buffer | undefined;
}

interface Pending {
  resolve: (response: Response) => void;
  reject: (error: Error) => void;
  head: boolean;
  keepBody: boolean;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

type BodyMode = 'none' | 'length' | 'chunked' | 'close';
type ChunkState = 'size' | 'data' | 'data-crlf' | 'trailer';

/** One keep-alive connection; reconnects transparently after the server closes it. */
export class HttpConnection {
  readonly host: string;
  readonly port: number;
  private readonly readBuffer: Buffer;
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private pending: Pending | undefined;
  private headBuf: Buffer | undefined;
  private status = 0;
  private headers: Record<string, string> = {};
  private mode: BodyMode = 'none';
  private remaining = 0;
  private chunkState: ChunkState = 'size';
  private lineBuf = '';
  private bodyBytes = 0;
  private bodyParts: Buffer[] = [];
  private closeAfter = false;

  constructor(host: string, port: number, readBufferBytes = 256 * 1024) {
    this.host = host;
    this.port = port;
    this.readBuffer = Buffer.allocUnsafe(readBufferBytes);
  }

  private open(): Promise<Socket> {
    if (this.socket !== undefined && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const socket = connect({
        host: this.host,
        port: this.port,
        noDelay: true,
        onread: {
          buffer: this.readBuffer,
          callback: (nread: number, buf: Uint8Array) => {
            this.onData(buf as Buffer, 0, nread);
            return true;
          },
        },
      });
      socket.once('connect', () => {
        this.socket = socket;
        this.connecting = undefined;
        resolve(socket);
      });
      socket.on('error', (error) => {
        this.connecting = undefined;
        reject(error);
        this.fail(error);
      });
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
        if (this.pending !== undefined && this.mode === 'close' && this.headBuf === undefined) this.finish();
        else this.fail(new Error('connection closed by the server'));
      });
    });
    return this.connecting;
  }

  /** Sends one request and resolves with the complete response. */
  async request(spec: RequestSpec): Promise<Response> {
    if (this.pending !== undefined) throw new Error('a request is already in flight on this connection');
    const socket = await this.open();
    const body = spec.body === undefined ? [] : Buffer.isBuffer(spec.body) ? [spec.body] : spec.body;
    let length = 0;
    for (const part of body) length += part.length;
    let head = `${spec.method} ${spec.path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\n`;
    if (spec.headers !== undefined)
      for (const [name, value] of Object.entries(spec.headers)) head += `${name}: ${value}\r\n`;
    if (length > 0 || spec.method === 'PUT' || spec.method === 'POST' || spec.method === 'PATCH') {
      head += `Content-Length: ${length}\r\n`;
    }
    head += '\r\n';
    const promise = new Promise<Response>((resolve, reject) => {
      this.pending = { resolve, reject, head: spec.method === 'HEAD', keepBody: spec.keepBody === true };
    });
    this.headBuf = Buffer.alloc(0);
    this.bodyBytes = 0;
    this.bodyParts = [];
    if (body.length === 0 || length < 64 * 1024) {
      socket.write(body.length === 0 ? head : Buffer.concat([Buffer.from(head, 'latin1'), ...body]));
    } else {
      socket.cork();
      socket.write(head);
      for (const part of body) socket.write(part);
      socket.uncork();
    }
    return promise;
  }

  /** Closes the connection; a request in flight rejects. */
  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private fail(error: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    this.headBuf = undefined;
    pending?.reject(error);
  }

  private finish(): void {
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    this.headBuf = undefined;
    const body = pending.keepBody ? Buffer.concat(this.bodyParts) : undefined;
    this.bodyParts = [];
    if (this.closeAfter) this.close();
    pending.resolve({ status: this.status, headers: this.headers, bodyBytes: this.bodyBytes, body });
  }

  private onData(buf: Buffer, start: number, end: number): void {
    let at = start;
    while (at < end) {
      if (this.pending === undefined) return;
      if (this.headBuf !== undefined) {
        at = this.readHead(buf, at, end);
        continue;
      }
      at = this.readBody(buf, at, end);
    }
  }

  private readHead(buf: Buffer, at: number, end: number): number {
    const joined = Buffer.concat([this.headBuf as Buffer, buf.subarray(at, end)]);
    const found = joined.indexOf(HEADER_END);
    if (found < 0) {
      this.headBuf = joined;
      return end;
    }
    const consumed = found + 4 - (this.headBuf as Buffer).length;
    this.headBuf = undefined;
    this.parseHead(joined.toString('latin1', 0, found));
    if (this.mode === 'none') this.finish();
    return at + consumed;
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const statusLine = lines[0] ?? '';
    this.status = Number(statusLine.slice(9, 12));
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    this.headers = headers;
    this.closeAfter = headers['connection']?.toLowerCase() === 'close';
    const pending = this.pending as Pending;
    if (pending.head || this.status === 204 || this.status === 304 || this.status < 200) this.mode = 'none';
    else if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
      this.mode = 'chunked';
      this.chunkState = 'size';
      this.lineBuf = '';
    } else if (headers['content-length'] !== undefined) {
      this.remaining = Number(headers['content-length']);
      this.mode = this.remaining === 0 ? 'none' : 'length';
    } else {
      this.mode = 'close';
      this.closeAfter = true;
    }
  }

  private take(buf: Buffer, at: number, count: number): void {
    this.bodyBytes += count;
    if ((this.pending as Pending).keepBody) this.bodyParts.push(Buffer.from(buf.subarray(at, at + count)));
  }

  private readBody(buf: Buffer, at: number, end: number): number {
    if (this.mode === 'close') {
      this.take(buf, at, end - at);
      return end;
    }
    if (this.mode === 'length') {
      const n = Math.min(this.remaining, end - at);
      this.take(buf, at, n);
      this.remaining -= n;
      if (this.remaining === 0) this.finish();
      return at + n;
    }
    return this.readChunked(buf, at, end);
  }

  private readChunked(buf: Buffer, at: number, end: number): number {
    switch (this.chunkState) {
      case 'data': {
        const n = Math.min(this.remaining, end - at);
        this.take(buf, at, n);
        this.remaining -= n;
        if (this.remaining === 0) {
          this.chunkState = 'data-crlf';
          this.lineBuf = '';
        }
        return at + n;
      }
      default: {
        const eol = buf.indexOf(CRLF, at);
        const stop = eol < 0 || eol >= end ? end : eol;
        this.lineBuf += buf.toString('latin1', at, stop);
        if (stop === end) return end;
        const line = this.lineBuf;
        this.lineBuf = '';
        if (this.chunkState === 'size') {
          const size = Number.parseInt(line.split(';')[0] ?? '', 16);
          if (size === 0) this.chunkState = 'trailer';
          else {
            this.remaining = size;
            this.chunkState = 'data';
          }
        } else if (this.chunkState === 'data-crlf') this.chunkState = 'size';
        else if (line === '') this.finish();
        return stop + 2;
      }
    }
  }
}

/** `n` connections to the same server. */
export function connections(host: string, port: number, n: number, readBufferBytes?: number): HttpConnection[] {
  return Array.from({ length: n }, () => new HttpConnection(host, port, readBufferBytes));
}

export function closeAll(conns: readonly HttpConnection[]): void {
  for (const conn of conns) conn.close();
}

/** Throws unless the response has the expected status. */
export function expectStatus(response: Response, ...statuses: number[]): Response {
  if (!statuses.includes(response.status)) {
    const detail = response.body === undefined ? '' : `: ${response.body.toString('utf8').slice(0, 300)}`;
    throw new Error(`expected HTTP ${statuses.join(' or ')}, got ${response.status}${detail}`);
  }
  return response;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  /** Latencies in ms, unsorted. */
  latencies: Float64Array;
  errors: number;
  firstError: string | undefined;
}

/**
 * Runs `next(i)` on every connection in a closed loop (one request in flight per connection)
 * until `durationMs` has passed, or until `total` requests when given.
 */
export async function runLoad(
  conns: readonly HttpConnection[],
  next: (i: number) => RequestSpec,
  opts: { durationMs?: number; total?: number; check?: (response: Response) => boolean },
): Promise<LoadResult> {
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = opts.durationMs === undefined ? Number.POSITIVE_INFINITY : started + opts.durationMs;
  const total = opts.total ?? Number.POSITIVE_INFINITY;
  const check = opts.check ?? ((r: Response) => r.status >= 200 && r.status < 300);
  let issued = 0;
  let errors = 0;
  let firstError: string | undefined;
  async function loop(conn: HttpConnection): Promise<void> {
    while (issued < total) {
      const t0 = performance.now();
      if (t0 >= deadline) return;
      const i = issued++;
      try {
        const response = await conn.request(next(i));
        latencies.push(performance.now() - t0);
        if (!check(response)) {
          errors++;
          firstError ??= `HTTP ${response.status} for request ${i}`;
        }
      } catch (error) {
        errors++;
        firstError ??= String(error);
        conn.close();
      }
    }
  }
  await Promise.all(conns.map(loop));
  const seconds = (performance.now() - started) / 1000;
  return { requests: latencies.length, seconds, latencies: Float64Array.from(latencies), errors, firstError };
}

/** The `q`-quantile (0..1) of `values` in ms. */
export function quantile(values: Float64Array, q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}
