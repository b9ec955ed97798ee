/** Real TLS clients for the TLS tests: a node:tls handshake that reports what was negotiated, and curl. */
import { readFileSync } from 'node:fs';
import { type ConnectionOptions, connect } from 'node:tls';
import { CommandError, run } from '../helpers/tools.js';

export interface Handshake {
  /** The server leaf's serial (upper-case hex). */
  serial: string;
  /** e.g. `TLSv1.3` */
  protocol: string | null;
  /** OpenSSL name of the negotiated suite. */
  cipher: string;
  /** The negotiated ALPN protocol, or false. */
  alpn: string | false;
}

/**
 * Completes a verified TLS handshake with 127.0.0.1:`port` (server name `localhost`), trusting
 * only `caFile`, and sends one `GET /v2/` to see that the connection is really accepted.
 * @throws the handshake or verification error
 */
export function handshake(port: number, caFile: string, options: ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: readFileSync(caFile),
      ...options,
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('handshake timed out')));
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const result: Handshake = {
        serial: socket.getPeerCertificate().serialNumber.toUpperCase(),
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().name,
        alpn: socket.alpnProtocol ?? false,
      };
      // TLS 1.3 reports a refused client certificate only after the handshake: a request shows it.
      socket.write('GET /v2/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      socket.once('data', (chunk: Buffer) => {
        socket.destroy();
        if (chunk.toString('latin1').startsWith('HTTP/1.1 ')) resolve(result);
        else reject(new Error(`not an HTTP answer: ${chunk.toString('latin1').slice(0, 40)}`));
      });
      socket.once('close', () => reject(new Error('connection closed without an answer')));
    });
  });
}

/** The handshake error's message, or undefined when the handshake succeeded. */
export async function handshakeError(port: number, caFile: string, options: ConnectionOptions = {}) {
  try {
    await handshake(port, caFile, options);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

export interface CurlResult {
  /** The HTTP status, or 0 when curl failed before one arrived. */
  status: number;
  /** curl's exit code (0 on success). */
  exitCode: number;
  body: string;
  stderr: string;
}

/** `curl -sS <args> <url>`, reporting the status and exit code instead of throwing. */
export async function curl(url: string, args: readonly string[] = []): Promise<CurlResult> {
  const marker = '\n@@status=';
  try {
    const { stdout, stderr } = await run(
      'curl',
      ['-sS', '--max-time', '20', ...args, '-w', `${marker}%{http_code}`, url],
      {
        timeoutMs: 30_000,
      },
    );
    const at = stdout.lastIndexOf(marker);
    return { status: Number(stdout.slice(at + marker.length)), exitCode: 0, body: stdout.slice(0, at), stderr };
  } catch (error) {
    if (!(error instanceof CommandError)) throw error;
    return { status: 0, exitCode: error.exitCode ?? -1, body: '', stderr: error.stderr };
  }
}
