/**
 * Go `time.Duration` text, as distribution's config.yml uses it ("10s", "1h30m", "168h").
 * Durations are carried as milliseconds (possibly fractional) inside Berth.
 */

const NS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 MICRO SIGN
  μs: 1e3, // U+03BC GREEK SMALL LETTER MU
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const COMPONENT = /^(\d*)(?:\.(\d*))?([^\d.]+)/;

/**
 * Parses a Go duration string exactly as `time.ParseDuration` accepts it.
 * @returns the duration in milliseconds, or undefined when the text is not a valid duration.
 */
export function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let ns = 0;
  while (rest !== '') {
    const m = COMPONENT.exec(rest);
    if (!m) return undefined;
    const [whole, int = '', frac, unit = ''] = m;
    if (int === '' && (frac === undefined || frac === '')) return undefined;
    const perUnit = NS_PER_UNIT[unit];
    if (perUnit === undefined) return undefined;
    ns += Number(int || '0') * perUnit;
    if (frac) ns += Number(`0.${frac}`) * perUnit;
    rest = rest.slice(whole.length);
  }
  return (sign * ns) / 1e6;
}

/** Renders `digits` (an integer) with `prec` implied decimal places, trailing zeros trimmed: (1500, 3) → "1.5". */
function withFraction(digits: number, prec: number): string {
  const scale = 10 ** prec;
  const int = Math.trunc(digits / scale);
  const frac = String(digits % scale)
    .padStart(prec, '0')
    .replace(/0+$/, '');
  return frac === '' ? String(int) : `${int}.${frac}`;
}

/**
 * Formats milliseconds the way Go's `Duration.String()` does ("168h0m0s", "1.5s", "500ms"),
 * so printed configuration can be fed back to Berth or to registry:2 unchanged.
 */
export function formatGoDuration(ms: number): string {
  let ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  ns = Math.abs(ns);
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${withFraction(ns, 3)}µs`;
  if (ns < 1e9) return `${sign}${withFraction(ns, 6)}ms`;
  const hours = Math.floor(ns / 3600e9);
  const minutes = Math.floor((ns % 3600e9) / 60e9);
  const seconds = withFraction(ns % 60e9, 9);
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}
