/**
 * TLS-ALPN-01 (RFC 8737) on the registry's own port. The ACME server validates by opening a TLS
 * connection that offers only the `acme-tls/1` protocol and expects a special self-signed
 * certificate for the name being validated; ordinary clients on the same port must keep getting
 * the real certificate. Node picks the certificate (SNICallback) before it sees the offered
 * protocols, so each new connection's ClientHello is read here first, then the socket — with
 * those bytes put back — goes either to the challenge server or to the registry's TLS server.
 */
import type { Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';

/** The ALPN protocol id of TLS-ALPN-01. */
export const ACME_TLS_ALPN = 'acme-tls/1';

/** What the router needs from a ClientHello. */
export interface ClientHello {
  /** The server name (SNI), lower-cased, when sent. */
  servername: string | undefined;
  /** The ALPN protocols offered, in order; empty when the extension is absent. */
  alpn: string[];
}

/** Not enough bytes yet to decide. */
const NEED_MORE = 'need-more';
/** Largest ClientHello we wait for; real ones are a few hundred bytes to a couple of KiB. */
const MAX_HELLO_BYTES = 64 * 1024;

/**
 * Parses the ClientHello at the start of a TLS stream, which may span several handshake records.
 * @returns the hello; NEED_MORE when `data` is a valid prefix; undefined when it is not a TLS
 *   ClientHello at all (the TLS server will then fail the handshake the usual way)
 */
export function parseClientHello(data: Buffer): ClientHello | typeof NEED_MORE | undefined {
  const handshake: Buffer[] = [];
  let have = 0;
  let offset = 0;
  let needed: number | undefined;
  while (needed === undefined || have < needed) {
    if (data.length < offset + 5) return NEED_MORE;
    // Content type 22 = handshake; the record version's major byte is always 3.
    if (data[offset] !== 0x16 || data[offset + 1] !== 0x03) return undefined;
    const length = data.readUInt16BE(offset + 3);
    if (length === 0) return undefined;
    if (data.length < offset + 5 + length) return NEED_MORE;
    handshake.push(data.subarray(offset + 5, offset + 5 + length));
    have += length;
    offset += 5 + length;
    if (needed === undefined) {
      const first = handshake[0] as Buffer;
      if (first.length < 4) return undefined;
      // Handshake type 1 = client_hello, then a 24-bit length.
      if (first[0] !== 0x01) return undefined;
      needed = 4 + first.readUIntBE(1, 3);
      if (needed > MAX_HELLO_BYTES) return undefined;
    }
  }
  return parseHelloBody(Buffer.concat(handshake, have).subarray(4, needed));
}

function parseHelloBody(body: Buffer): ClientHello | undefined {
  // legacy_version (2) + random (32)
  let at = 34;
  const skip = (lengthBytes: 1 | 2): boolean => {
    if (body.length < at + lengthBytes) return false;
    const length = lengthBytes === 1 ? (body[at] as number) : body.readUInt16BE(at);
    at += lengthBytes + length;
    return at <= body.length;
  };
  // session id, cipher suites, compression methods
  if (!skip(1) || !skip(2) || !skip(1)) return undefined;
  const hello: ClientHello = { servername: undefined, alpn: [] };
  if (at === body.length) return hello;
  if (body.length < at + 2) return undefined;
  const end = at + 2 + body.readUInt16BE(at);
  if (end > body.length) return undefined;
  at += 2;
  while (at + 4 <= end) {
    const type = body.readUInt16BE(at);
    const length = body.readUInt16BE(at + 2);
    const ext = body.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    if (at > end) return undefined;
    if (type === 0x0000) hello.servername = parseServerName(ext);
    else if (type === 0x0010) hello.alpn = parseAlpn(ext);
  }
  return hello;
}

function parseServerName(ext: Buffer): string | undefined {
  if (ext.length < 5) return undefined;
  // server_name_list length (2), then entries of name_type (1) + length (2) + name
  let at = 2;
  while (at + 3 <= ext.length) {
    const type = ext[at];
    const length = ext.readUInt16BE(at + 1);
    const name = ext.subarray(at + 3, at + 3 + length);
    at += 3 + length;
    if (type === 0 && at <= ext.length) return name.toString('latin1').toLowerCase();
  }
  return undefined;
}

function parseAlpn(ext: Buffer): string[] {
  const protocols: string[] = [];
  if (ext.length < 2) return protocols;
  const end = Math.min(ext.length, 2 + ext.readUInt16BE(0));
  let at = 2;
  while (at < end) {
    const length = ext[at] as number;
    if (at + 1 + length > end) break;
    protocols.push(ext.subarray(at + 1, at + 1 + length).toString('latin1'));
    at += 1 + length;
  }
  return protocols;
}

/**
 * Reads from `socket` until its ClientHello is complete, then pauses it, puts the bytes back and
 * calls `done`. Sockets that stay silent past `timeoutMs` or close early are destroyed.
 */
function peekClientHello(socket: Socket, timeoutMs: number, done: (hello: ClientHello | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const cleanup = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    const data = Buffer.concat(chunks, size);
    const hello = parseClientHello(data);
    if (hello === NEED_MORE && size < MAX_HELLO_BYTES) return;
    cleanup();
    socket.pause();
    socket.unshift(data);
    done(hello === NEED_MORE ? undefined : hello);
  };
  const onEnd = (): void => {
    cleanup();
    socket.destroy();
  };
  const timer = setTimeout(() => {
    cleanup();
    socket.destroy();
  }, timeoutMs);
  timer.unref();
  // A reset during the peek must not become an uncaught 'error'.
  socket.on('error', () => socket.destroy());
  socket.on('data', onData);
  socket.once('end', onEnd);
}

/**
 * Puts a ClientHello check in front of `server`'s TLS handshake: connections offering only
 * `acme-tls/1` are handed to `challengeServer`, every other one continues as before.
 */
export function routeAcmeTlsAlpn(server: TlsServer, challengeServer: TlsServer, timeoutMs = 10_000): void {
  const tlsListeners = server.listeners('connection') as Array<(this: TlsServer, socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    peekClientHello(socket, timeoutMs, (hello) => {
      if (hello?.alpn.length === 1 && hello.alpn[0] === ACME_TLS_ALPN) {
        challengeServer.emit('connection', socket);
        return;
      }
      for (const listener of tlsListeners) listener.call(server, socket);
    });
  });
}
