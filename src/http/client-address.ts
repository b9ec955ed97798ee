/**
 * The client's address for logs, honouring `X-Forwarded-For` only when the connection comes from
 * a trusted proxy (`http.trustedproxies`, a Berth key: CIDR ranges or single addresses). registry:2
 * believes the header from anyone, so any client can write any address into its logs; here the
 * chain is walked from the right, skipping trusted proxies, and the first address not trusted is
 * the client. An entry that is not an IP address stops the walk at the last trusted hop.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** A compiled `http.trustedproxies` list. */
export interface TrustedProxies {
  /** Whether `address` (a bare IPv4 or IPv6 address) is a trusted proxy. */
  trusts(address: string): boolean;
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) → `10.0.0.1`. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

/**
 * Compiles `http.trustedproxies`.
 * @throws Error naming the entry that is neither an address nor a CIDR range.
 */
export function parseTrustedProxies(entries: readonly string[] | undefined): TrustedProxies | undefined {
  if (entries === undefined || entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefixText, extra] = entry.trim().split('/');
    const family = isIP(address);
    const max = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
    if (family === 0 || extra !== undefined || !(prefix <= max)) {
      throw new Error(`http.trustedproxies: ${JSON.stringify(entry)} is not an IP address or CIDR range`);
    }
    list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return {
    trusts(address) {
      const family = isIP(address);
      if (family === 0) return false;
      return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/** `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1` → the bare address, or undefined when not an IP. */
function parseForwarded(entry: string): string | undefined {
  let value = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed?.[1] !== undefined) value = bracketed[1];
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(value)) value = value.slice(0, value.lastIndexOf(':'));
  value = normalizeAddress(value);
  return isIP(value) === 0 ? undefined : value;
}

/** {@link clientAddress} of a request: its socket's peer and its `X-Forwarded-For` header. */
export function requestClientAddress(req: IncomingMessage, trusted: TrustedProxies | undefined): string | undefined {
  const header = req.headers['x-forwarded-for'];
  return clientAddress(req.socket.remoteAddress, Array.isArray(header) ? header.join(',') : header, trusted);
}

/**
 * The client address of a request: the peer's, or with a trusted peer the nearest untrusted
 * address of `X-Forwarded-For`.
 * @param peer the socket's remote address.
 * @param forwardedFor the `X-Forwarded-For` header (Node joins repeated headers with ", ").
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | undefined,
  trusted: TrustedProxies | undefined,
): string | undefined {
  if (peer === undefined) return undefined;
  let client = normalizeAddress(peer);
  if (trusted === undefined || forwardedFor === undefined || !trusted.trusts(client)) return client;
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parseForwarded(hops[i] ?? '');
    if (hop === undefined) break;
    client = hop;
    if (!trusted.trusts(hop)) break;
  }
  return client;
}
