/**
 * Byte sizes as operators write them in config.yml: a plain integer of bytes, or a number with a
 * unit — decimal (`kB`, `MB`, `GB`, `TB`) or binary (`KiB`, `MiB`, `GiB`, `TiB`), case-insensitive
 * for the letters that are unambiguous (`512mib`, `10 GB`).
 */

const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1000,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

const SIZE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

/** The number of bytes `value` denotes, or undefined when it is not a size. */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = SIZE.exec(value.trim());
  if (match === null) return undefined;
  const unit = UNITS[(match[2] ?? '').toLowerCase() || 'b'];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
