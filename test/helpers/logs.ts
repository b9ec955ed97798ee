/** Reading what Berth's logger writes, without a process: capture into an array, parse logfmt. */
import assert from 'node:assert/strict';
import { createLogger, type Logger, type LoggerConfig } from '../../src/log/logger.js';

/** A logger configured as `config` whose lines land in `lines`, as `berth serve` would write them to stderr. */
export function captureLogger(config: LoggerConfig): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger(config, { destination: { write: (line: string) => lines.push(line) } });
  return { logger, lines };
}

/** A strict logfmt reader: `key=value` or `key="json-escaped"`, separated by single spaces. */
export function parseLogfmt(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const pair = /([^\s=]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?: |$)/y;
  while (pair.lastIndex < text.length) {
    const at = pair.lastIndex;
    const m = pair.exec(text);
    assert.ok(m, `not logfmt at offset ${at}: ${text}`);
    const [, key = '', value = ''] = m;
    out[key] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
  }
  return out;
}
