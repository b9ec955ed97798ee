/**
 * In-process line formatters for the `text` and `logfmt` log formatters. pino always produces one
 * JSON object per line; these turn each into the form distribution's logrus formatters print. They run
 * synchronously in the logging thread (no worker-thread transports), so a line is written before the
 * logging call returns and nothing is lost when the process exits.
 */

/** What pino writes to: anything with a `write(line)` method. */
export interface LineSink {
  /** Takes one complete line, newline included; must not reorder lines. */
  write(line: string): unknown;
}

export type LineFormat = 'text' | 'logfmt';

/** Keys that lead every formatted line rather than appearing as key=value pairs. */
const HEAD_KEYS = new Set(['time', 'level', 'msg']);

/** logrus quotes any value with a character outside this set. */
const BARE_VALUE = /^[A-Za-z0-9\-._/@^+]+$/;

function quote(value: string): string {
  return BARE_VALUE.test(value) ? value : JSON.stringify(value);
}

function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return String(value);
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/**
 * Flattens nested objects into dotted keys (`err.message`, `http.request.method`) as distribution's
 * field names look; arrays are written as JSON.
 */
function flatten(prefix: string, value: unknown, out: [string, string][]): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(prefix === '' ? k : `${prefix}.${k}`, v, out);
    return;
  }
  out.push([prefix, scalarText(value)]);
}

function pairs(record: Record<string, unknown>): string {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(record)) if (!HEAD_KEYS.has(k)) flatten(k, v, out);
  return out.map(([k, v]) => `${k}=${quote(v)}`).join(' ');
}

/**
 * Rewrites one pino JSON line. Lines that are not JSON objects (should not happen) pass through, so a
 * formatting problem never swallows a log line.
 */
export function formatLine(format: LineFormat, line: string): string {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return line;
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return line;
  const r = record as Record<string, unknown>;
  const time = scalarText(r['time'] ?? new Date().toISOString());
  const level = scalarText(r['level'] ?? 'info');
  const msg = scalarText(r['msg'] ?? '');
  const rest = pairs(r);
  if (format === 'logfmt') {
    return `time=${quote(time)} level=${quote(level)} msg=${JSON.stringify(msg)}${rest === '' ? '' : ` ${rest}`}\n`;
  }
  // One readable line: escape newlines in the message so a line is always one record.
  const text = msg.replace(/\r?\n/g, '\\n');
  return `${time} ${level.toUpperCase().padEnd(5)} ${text}${rest === '' ? '' : ` ${rest}`}\n`;
}

/** A pino destination that reformats each JSON line before handing it to `sink`. */
export function createFormattingSink(format: LineFormat, sink: LineSink): LineSink {
  return {
    write(line: string) {
      return sink.write(formatLine(format, line));
    },
  };
}
