/**
 * HTTP/1.1 over a bare node:net socket, for input that fetch and node:http would refuse to send
 * or would normalise (`..` segments, conflicting lengths, truncated bodies, broken request lines),
 * and for transfers paced byte by byte.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RawAnswer {
  /** HTTP status; 0 when the server closed without answering. */
  status: number;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** Whether the server closed the connection. */
  closed: boolean;
}

export interface RawOptions {
  /** Give up (and fail) after this long; default 10 s. */
  timeoutMs?: number;
  /** Half-close our side after sending, as a client that gave up on the body does. */
  endAfterSend?: boolean;
}

/** The error code the body carries (`errors[0].code`), or undefined. */
export function errorCode(answer: RawAnswer): string | undefined {
  try {
    const parsed = JSON.parse(answer.body.toString('utf8')) as { errors?: Array<{ code?: string }> };
    return parsed.errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

/** Parses one response from the start of `data`, or undefined while incomplete. */
function parseAnswer(data: Buffer, closed: boolean): RawAnswer | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return closed ? { status: 0, headers: {}, body: data, closed } : undefined;
  const [statusLine = '', ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const body = data.subarray(end + 4);
  const length = headers['content-length'];
  if (length !== undefined) {
    if (body.length < Number(length)) return closed ? { status, headers, body, closed } : undefined;
    return { status, headers, body: body.subarray(0, Number(length)), closed };
  }
  // 1xx/204/304 carry no body; anything else without a length runs to the close.
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) return { status, headers, body, closed };
  return closed ? { status, headers, body, closed } : undefined;
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Sends `parts` (waiting `delayMs` between parts that are numbers) on a new connection and
 * resolves with the first response. Resolves with status 0 if the server closes without one.
 */
export async function rawExchange(
  port: number,
  parts: ReadonlyArray<string | Buffer | number>,
  options: RawOptions = {},
): Promise<RawAnswer> {
  const socket = await openSocket(port);
  const chunks: Buffer[] = [];
  let closed = false;
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${options.timeoutMs ?? 10_000} ms`));
    }, options.timeoutMs ?? 10_000);
    const settle = (): void => {
      const parsed = parseAnswer(Buffer.concat(chunks), closed);
      if (parsed === undefined) return;
      clearTimeout(timer);
      resolve(parsed);
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      settle();
    });
    socket.on('close', () => {
      closed = true;
      settle();
    });
    // A reset after the answer is no failure; before it, it reads as "closed without an answer".
    socket.on('error', () => undefined);
  });
  let sendError: unknown;
  (async () => {
    for (const part of parts) {
      if (closed) return;
      if (typeof part === 'number') await sleep(part);
      else socket.write(part);
    }
    if (options.endAfterSend) socket.end();
  })().catch((error: unknown) => {
    sendError = error;
  });
  try {
    const result = await answer;
    if (sendError !== undefined && result.status === 0) throw sendError;
    return result;
  } finally {
    socket.destroy();
  }
}

/** Builds a request head; `headers` are written exactly as given, in order. */
export function head(method: string, path: string, headers: Array<[string, string | number]> = []): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...headers.map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A whole request with a body and a correct Content-Length (unless `headers` sets one). */
export function request(
  method: string,
  path: string,
  body: string | Buffer = '',
  headers: Array<[string, string | number]> = [],
): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const hasLength = headers.some(
    ([k]) => k.toLowerCase() === 'content-length' || k.toLowerCase() === 'transfer-encoding',
  );
  const all: Array<[string, string | number]> = hasLength ? headers : [...headers, ['Content-Length', bytes.length]];
  return Buffer.concat([Buffer.from(head(method, path, [...all, ['Connection', 'close']])), bytes]);
}
