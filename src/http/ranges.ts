/** Single byte-range requests (RFC 9110 §14) as blob GETs need them. */

export type ByteRange =
  /** No usable range: serve the whole entity with 200. */
  | { kind: 'full' }
  /** Serve bytes `start`…`end` (inclusive) with 206. */
  | { kind: 'partial'; start: number; end: number }
  /** No byte of the range exists: 416 with `Content-Range: bytes *\/size`. */
  | { kind: 'unsatisfiable' };

const SPEC = /^(\d*)-(\d*)$/;

/**
 * Interprets a `Range` header against an entity of `size` bytes. Malformed headers, other
 * units and multiple ranges are ignored (whole entity), as RFC 9110 allows.
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return { kind: 'full' };
  const trimmed = header.trim();
  if (!trimmed.toLowerCase().startsWith('bytes=')) return { kind: 'full' };
  const spec = trimmed.slice('bytes='.length).trim();
  if (spec.includes(',')) return { kind: 'full' };
  const match = SPEC.exec(spec);
  if (match === null) return { kind: 'full' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  return { kind: 'partial', start, end };
}
