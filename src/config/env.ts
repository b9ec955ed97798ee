/**
 * The REGISTRY_* environment overlay, following distribution's configuration parser: variables are
 * applied in sorted order; `REGISTRY_A_B_C` is split on `_` and matched case-insensitively against the
 * schema's keys level by level; the value is decoded as YAML into the field it lands on. Where a
 * mapping takes arbitrary keys whose values are leaves (log.fields, http.headers), the rest of the
 * name is the key, so `REGISTRY_LOG_FIELDS_SERVICE_NAME` sets `log.fields.service_name`.
 */
import { parseDocument } from 'yaml';
import { ConfigError } from './errors.js';
import { ConfigSchema, normalizeSelector, type Schema, STORAGE_PARAMETER_KEYS } from './schema.js';
import { describeSchema, isMapping, isPlainObject, type SchemaNode } from './schema-walk.js';

const PREFIX = 'REGISTRY_';

/** Variables that configure how configuration is found rather than what it says. */
const NOT_OVERLAID = new Set(['REGISTRY_CONFIGURATION_PATH']);

/**
 * Go struct field names that differ from their YAML keys. distribution matches env segments against
 * Go field names, so these spellings must keep working; the YAML key is accepted too.
 */
const GO_FIELD_ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  notifications: { eventconfig: 'events' },
  health: { filecheckers: 'file', httpcheckers: 'http', tcpcheckers: 'tcp' },
  'compatibility.schema1': { trustkey: 'signingkeyfile' },
};

/** Mappings where a bare name selects one entry and drops the others (`REGISTRY_STORAGE=s3`). */
const SELECTORS = new Set(['storage', 'auth']);

interface Target {
  /** The full variable name, for messages. */
  name: string;
  payload: string;
  warnings: string[];
}

function decodeYaml(target: Target): unknown {
  const doc = parseDocument(target.payload, { version: '1.1' });
  const first = doc.errors[0];
  if (first !== undefined) {
    throw new ConfigError([`${target.name}: value is not valid YAML: ${first.message}`], 'environment');
  }
  return doc.toJS();
}

/** Decodes the variable's value for a field of kind `node`, as Go's yaml.Unmarshal into that field would. */
function decodeFor(node: SchemaNode, target: Target): unknown {
  const value = decodeYaml(target);
  // Go keeps the scalar's text for string fields: a secret of "0x1F" or "yes" stays as written.
  if (node.kind === 'string' && typeof value !== 'string') return target.payload;
  return value;
}

function findKey(container: Record<string, unknown>, segment: string): string {
  const lower = segment.toLowerCase();
  return Object.keys(container).find((k) => k.toLowerCase() === lower) ?? lower;
}

/** `REGISTRY_STORAGE=s3`: keep storage tuning keys and the chosen driver's parameters, drop other drivers. */
function select(path: string, current: unknown, chosen: string): Record<string, unknown> {
  const old = isPlainObject(current) ? current : {};
  const next: Record<string, unknown> = {};
  if (path === 'storage') {
    for (const key of STORAGE_PARAMETER_KEYS) if (old[key] !== undefined) next[key] = old[key];
  }
  next[chosen] = old[chosen] ?? {};
  return next;
}

function setIn(
  container: Record<string, unknown>,
  schema: Schema,
  segments: readonly string[],
  path: readonly string[],
  target: Target,
): void {
  const node = describeSchema(schema);
  const [segment, ...rest] = segments;
  if (segment === undefined) return;
  const dotted = path.join('.');

  let key: string;
  let childSchema: Schema | undefined;
  if (node.kind === 'object') {
    const lower = segment.toLowerCase();
    key = GO_FIELD_ALIASES[dotted]?.[lower] ?? lower;
    childSchema = node.shape[key];
    if (childSchema === undefined) {
      target.warnings.push(`ignoring unrecognized environment variable ${target.name}`);
      return;
    }
  } else if (node.kind === 'record') {
    childSchema = node.value;
    if (!isMapping(describeSchema(childSchema)) && rest.length > 0) {
      container[findKey(container, [segment, ...rest].join('_'))] = decodeFor(describeSchema(childSchema), target);
      return;
    }
    key = findKey(container, segment);
  } else {
    // Untyped (interface{} in Go): build nested mappings, one level per segment.
    key = findKey(container, segment);
  }

  const childPath = [...path, key];
  const childNode = childSchema === undefined ? ({ kind: 'unknown' } as const) : describeSchema(childSchema);
  if (rest.length === 0) {
    const value = decodeFor(childNode, target);
    const selector = SELECTORS.has(childPath.join('.'));
    container[key] = selector && typeof value === 'string' ? select(key, container[key], value) : value;
    return;
  }
  if (childNode.kind === 'array') {
    target.warnings.push(`ignoring environment variable ${target.name}: list elements cannot be set one by one`);
    return;
  }
  if (!isMapping(childNode) && childNode.kind !== 'unknown') {
    target.warnings.push(`ignoring unrecognized environment variable ${target.name}`);
    return;
  }
  let child = SELECTORS.has(childPath.join('.')) ? normalizeSelector(container[key]) : container[key];
  if (!isPlainObject(child)) child = {};
  container[key] = child;
  setIn(child as Record<string, unknown>, childSchema ?? schema, rest, childPath, target);
}

/**
 * Applies every `REGISTRY_*` variable in `env` onto `raw` (the parsed YAML, mutated in place).
 * The deprecated `REGISTRY_LOGLEVEL` sets the top-level `loglevel`.
 * @returns warnings for variables that name no known key.
 * @throws ConfigError when a value is not valid YAML.
 */
export function applyEnvOverlay(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): string[] {
  const warnings: string[] = [];
  const names = Object.keys(env)
    .filter((name) => name.toUpperCase().startsWith(PREFIX) && !NOT_OVERLAID.has(name.toUpperCase()))
    .sort();
  for (const name of names) {
    const payload = env[name];
    if (payload === undefined) continue;
    const segments = name.slice(PREFIX.length).split('_');
    const target: Target = { name, payload, warnings };
    if (segments.length === 1 && segments[0]?.toLowerCase() === 'loglevel') {
      raw['loglevel'] = decodeYaml(target);
      continue;
    }
    setIn(raw, ConfigSchema, segments, [], target);
  }
  return warnings;
}
