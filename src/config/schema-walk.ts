/**
 * Reads the shape of the config schema, so the env overlay, unknown-key warnings, YAML scalar
 * fix-ups and duration printing all follow the one schema instead of a second list of keys.
 */
import { isDurationSchema, type Schema } from './schema.js';

export type SchemaNode =
  /** A mapping with a fixed set of keys. */
  | { kind: 'object'; shape: Readonly<Record<string, Schema>> }
  /** A mapping with arbitrary keys (log.fields, http.headers, …). */
  | { kind: 'record'; value: Schema }
  | { kind: 'array'; element: Schema }
  /** A Go duration: text in YAML, milliseconds once parsed. */
  | { kind: 'duration' }
  /** A string field: YAML scalars land in it as their source text. */
  | { kind: 'string' }
  /** Any other typed scalar (boolean, number, enum). */
  | { kind: 'scalar' }
  /** Untyped: whatever YAML produces is kept. */
  | { kind: 'unknown' };

/** What valibot's schema objects carry, depending on their type. */
interface SchemaParts {
  type: string;
  wrapped?: Schema;
  pipe?: readonly { kind: string }[];
  entries?: Readonly<Record<string, Schema>>;
  value?: Schema;
  item?: Schema;
}

/** Strips wrappers (optional, pipes of adjustments and checks) and says what kind of value `schema` holds. */
export function describeSchema(schema: Schema): SchemaNode {
  let current = schema;
  for (;;) {
    if (isDurationSchema(current)) return { kind: 'duration' };
    const parts = current as Schema & SchemaParts;
    // A pipe is its first schema plus actions and further schemas: the last schema says what comes out.
    const last = parts.pipe?.findLast((item): item is Schema => item.kind === 'schema');
    if (last !== undefined) {
      current = last;
      continue;
    }
    switch (parts.type) {
      case 'optional':
      case 'exact_optional':
      case 'nullable':
      case 'nullish':
        if (parts.wrapped === undefined) return { kind: 'unknown' };
        current = parts.wrapped;
        break;
      case 'object':
        return { kind: 'object', shape: parts.entries ?? {} };
      case 'record':
        return parts.value === undefined ? { kind: 'unknown' } : { kind: 'record', value: parts.value };
      case 'array':
        return parts.item === undefined ? { kind: 'unknown' } : { kind: 'array', element: parts.item };
      case 'string':
        return { kind: 'string' };
      case 'unknown':
      case 'any':
        return { kind: 'unknown' };
      default:
        return { kind: 'scalar' };
    }
  }
}

/** The schema of the value at `path` below `schema`, or undefined when the schema has no such key. */
export function schemaAt(schema: Schema, path: readonly PropertyKey[]): Schema | undefined {
  let current: Schema | undefined = schema;
  for (const key of path) {
    if (current === undefined) return undefined;
    const node = describeSchema(current);
    if (node.kind === 'object') current = node.shape[String(key)];
    else if (node.kind === 'record') current = node.value;
    else if (node.kind === 'array') current = node.element;
    else return undefined;
  }
  return current;
}

/** Whether a node holds a mapping the walkers descend into. */
export function isMapping(node: SchemaNode): node is Extract<SchemaNode, { kind: 'object' | 'record' }> {
  return node.kind === 'object' || node.kind === 'record';
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Renders a path the way messages show it: `notifications.endpoints[0].url`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

export type Visitor = (path: readonly (string | number)[], value: unknown, node: SchemaNode) => unknown;

/**
 * Walks `value` along `schema`, calling `visit` for every leaf that is present (strings, scalars,
 * durations, untyped values) and replacing the leaf with what `visit` returns. Mutates `value` in place
 * and returns it (or the replacement when `value` itself is a leaf).
 */
export function mapLeaves(value: unknown, schema: Schema, visit: Visitor, path: (string | number)[] = []): unknown {
  const node = describeSchema(schema);
  if (node.kind === 'object' && isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const childSchema = node.shape[key];
      if (childSchema !== undefined && child !== undefined) {
        value[key] = mapLeaves(child, childSchema, visit, [...path, key]);
      }
    }
    return value;
  }
  if (node.kind === 'record' && isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      value[key] = mapLeaves(child, node.value, visit, [...path, key]);
    }
    return value;
  }
  if (node.kind === 'array' && Array.isArray(value)) {
    value.forEach((item, i) => {
      value[i] = mapLeaves(item, node.element, visit, [...path, i]);
    });
    return value;
  }
  if (isMapping(node) || node.kind === 'array') return value;
  return visit(path, value, node);
}

/** Lists every key in `value` that the schema does not know, as dotted paths. */
export function findUnknownKeys(value: unknown, schema: Schema, path: (string | number)[] = []): string[] {
  const node = describeSchema(schema);
  const found: string[] = [];
  if (node.kind === 'object' && isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const childSchema = node.shape[key];
      if (childSchema === undefined) found.push(formatPath([...path, key]));
      else found.push(...findUnknownKeys(child, childSchema, [...path, key]));
    }
  } else if (node.kind === 'record' && isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) found.push(...findUnknownKeys(child, node.value, [...path, key]));
  } else if (node.kind === 'array' && Array.isArray(value)) {
    value.forEach((item, i) => {
      found.push(...findUnknownKeys(item, node.element, [...path, i]));
    });
  }
  return found;
}

/** Every key path the schema declares, down to leaves, records and arrays (which end a path). */
export function listSchemaPaths(schema: Schema, prefix = ''): string[] {
  const node = describeSchema(schema);
  if (node.kind !== 'object' || Object.keys(node.shape).length === 0) return [prefix];
  return Object.entries(node.shape).flatMap(([key, child]) =>
    listSchemaPaths(child, prefix === '' ? key : `${prefix}.${key}`),
  );
}
