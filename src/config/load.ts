/**
 * Loads distribution's config.yml: YAML (1.1, as Go's yaml.v2 reads it) → REGISTRY_* overlay →
 * deprecated-key migration → unknown-key warnings → schema validation with defaults.
 */
import { readFileSync } from 'node:fs';
import { type Document, isScalar, parseDocument } from 'yaml';
import { configFilePath, DEFAULT_CONFIG_SOURCE, DEFAULT_CONFIG_YAML } from './default.js';
import { applyEnvOverlay } from './env.js';
import { ConfigError } from './errors.js';
import {
  type Config,
  type ConfigIssue,
  ConfigSchema,
  checkConfig,
  migrateDeprecated,
  normalizeSelector,
} from './schema.js';
import { describeSchema, findUnknownKeys, formatPath, isPlainObject, mapLeaves, schemaAt } from './schema-walk.js';
import { findNotSupportedYet } from './support.js';

export interface LoadConfigOptions {
  /** Configuration file; when absent, REGISTRY_CONFIGURATION_PATH, then the embedded default. */
  file?: string | undefined;
  /** Environment for REGISTRY_* overrides; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv | undefined;
}

export interface LoadedConfig {
  /** The validated configuration with defaults applied. */
  config: Config;
  /** Problems that do not stop start-up: unknown keys, unrecognized env variables, deprecated keys. */
  warnings: string[];
  /** Keys that are set but that Berth does not act on yet (see `support.ts`). */
  notSupportedYet: string[];
  /** Where the configuration came from: the file path, or `<embedded default>`. */
  source: string;
}

/**
 * Reads and validates the configuration, as `registry serve [file]` does.
 * @throws ConfigError naming every invalid key, or the unreadable file.
 */
export function loadConfig(opts: LoadConfigOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const file = configFilePath(opts.file, env);
  if (file === undefined) return parseConfig(DEFAULT_CONFIG_YAML, { env, source: DEFAULT_CONFIG_SOURCE });
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigError([`cannot read configuration file: ${reason}`], file);
  }
  return parseConfig(text, { env, source: file });
}

export interface ParseConfigOptions {
  /** Environment for REGISTRY_* overrides; none when absent. */
  env?: NodeJS.ProcessEnv | undefined;
  /** Names the configuration in messages. */
  source?: string | undefined;
}

/**
 * Like {@link loadConfig} for configuration text already in hand.
 * @throws ConfigError when the YAML or any key is invalid.
 */
export function parseConfig(text: string, opts: ParseConfigOptions = {}): LoadedConfig {
  const source = opts.source ?? '<config>';
  const doc = parseDocument(text, { version: '1.1', uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`),
      source,
    );
  }
  const parsed: unknown = doc.toJS() ?? {};
  if (!isPlainObject(parsed)) throw new ConfigError(['(root): expected a YAML mapping'], source);
  const raw = restoreScalarText(parsed, doc);
  for (const key of ['storage', 'auth']) if (key in raw) raw[key] = normalizeSelector(raw[key]);

  const warnings = applyEnvOverlay(raw, opts.env ?? {});
  if (raw['loglevel'] !== undefined) warnings.push('loglevel is deprecated, use log.level');
  const migrated = migrateDeprecated(raw);
  warnings.push(...findUnknownKeys(migrated, ConfigSchema).map((k) => `unknown key ${k}`));
  const notSupportedYet = findNotSupportedYet(migrated);

  return { config: validateConfig(migrated, source), warnings, notSupportedYet, source };
}

/**
 * The configuration `input` (already a mapping, as YAML gives it) describes, with defaults applied.
 * @throws ConfigError naming every invalid key.
 */
export function validateConfig(input: unknown, source = '<config>'): Config {
  const checked = checkConfig(input);
  if (checked.issues !== undefined) throw new ConfigError(checked.issues.map(formatIssue), source);
  return checked.config;
}

/**
 * Go's yaml.v2 decodes any scalar into a string field as its text, so `secret: 0x1F` or `password: on`
 * stay as written; YAML resolution would have turned them into 31 and true.
 */
function restoreScalarText(raw: Record<string, unknown>, doc: Document): Record<string, unknown> {
  mapLeaves(raw, ConfigSchema, (path, value, node) => {
    if (node.kind !== 'string' || typeof value === 'string') return value;
    const scalar = doc.getIn(path, true);
    return isScalar(scalar) && typeof scalar.source === 'string' ? scalar.source : value;
  });
  return raw;
}

function describeValue(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return `${typeof input} ${JSON.stringify(input)}`;
}

/** The words for the types valibot's type issues name. */
const EXPECTED: Readonly<Record<string, string>> = {
  string: 'string',
  boolean: 'boolean',
  number: 'number',
  integer: 'integer',
  object: 'object',
  record: 'object',
  array: 'array',
};

/** What a missing key at `path` should hold, in the words of type issues, when the schema says plainly. */
function expectedAt(path: readonly PropertyKey[]): string | undefined {
  const schema = schemaAt(ConfigSchema, path);
  const kind = schema === undefined ? undefined : describeSchema(schema).kind;
  if (kind === 'record') return 'object';
  return kind === 'string' || kind === 'object' || kind === 'array' || kind === 'duration' ? kind : undefined;
}

/** One line per issue, always starting with the key path. */
function formatIssue(issue: ConfigIssue): string {
  const at = issue.path ?? [];
  const keys = at.map((item) => item.key as PropertyKey);
  const path = formatPath(keys);
  const got = describeValue(issue.input);
  if (at.at(-1)?.origin === 'key') {
    const expected = expectedAt(keys);
    return expected === undefined ? `${path}: required` : `${path}: required (expected ${expected})`;
  }
  switch (issue.type) {
    case 'picklist': {
      // valibot writes the options as `("a" | "b")`.
      const options = (issue.expected ?? '').replace(/^\((.*)\)$/, '$1').split(' | ');
      return `${path}: expected one of ${options.join(', ')}, got ${got}`;
    }
    case 'min_value':
    case 'min_length':
      return `${path}: must be at least ${String(issue.requirement)}, got ${got}`;
    default: {
      const expected = EXPECTED[issue.type];
      return expected === undefined ? `${path}: ${issue.message}` : `${path}: expected ${expected}, got ${got}`;
    }
  }
}
