/**
 * The process logger, configured from config.yml's `log` section like distribution's logrus setup:
 * level, formatter (text, json, logfmt) and `fields` added to every line. Logs go to stderr, as
 * registry:2's do, written synchronously so nothing is lost on exit.
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import { REDACTED } from '../config/redacted.js';
import type { LogConfig } from '../config/schema.js';
import { createFormattingSink, type LineSink } from './format.js';

export type { Logger } from 'pino';

/**
 * Paths pino censors in every line, whatever the caller passes: credentials in headers and the
 * usual names for secrets. This complements, not replaces, keeping secrets out of log calls.
 */
const REDACT_PATHS = [
  'password',
  'secret',
  'token',
  'authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
];

export interface CreateLoggerOptions {
  /** Where lines go; stderr when absent. Tests pass a collecting sink. */
  destination?: LineSink | undefined;
}

/** The part of `log` the logger uses; a full {@link LogConfig} fits. */
export type LoggerConfig = Pick<LogConfig, 'level' | 'formatter'> & Partial<Pick<LogConfig, 'fields'>>;

/**
 * Builds the logger. Lines carry `level` as a label ("info") and `time` as ISO 8601 in every
 * formatter, so json, logfmt and text lines hold the same facts.
 */
export function createLogger(config: LoggerConfig, opts: CreateLoggerOptions = {}): Logger {
  const sink: LineSink = opts.destination ?? pino.destination({ dest: 2, sync: true });
  const stream = config.formatter === 'json' ? sink : createFormattingSink(config.formatter, sink);
  return pino(
    {
      level: config.level,
      base: { ...(config.fields ?? {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    stream as DestinationStream,
  );
}
