/**
 * The schema of distribution's config.yml (version 0.1), with distribution's defaults applied so
 * consumers read definite values. Keys are lower-case exactly as distribution's YAML tags are.
 * Unknown keys are stripped here; the loader reports them as warnings before parsing.
 * Durations are Go duration strings in the file and milliseconds in {@link Config}.
 */
import { z } from 'zod';
import { parseByteSize } from './byte-size.js';
import { parseGoDuration } from './duration.js';

/** The storage driver names Berth knows. Exactly one of them must be configured. */
export const STORAGE_DRIVERS = ['filesystem', 'inmemory', 's3', 'azure', 'gcs'] as const;
/** Keys under `storage` that tune storage rather than select a driver. */
export const STORAGE_PARAMETER_KEYS = ['delete', 'redirect', 'cache', 'maintenance', 'tag'] as const;
/** The access controllers distribution offers; at most one may be configured. */
export const AUTH_TYPES = ['silly', 'token', 'htpasswd'] as const;

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATTERS = ['text', 'json', 'logfmt'] as const;
export type LogFormatter = (typeof LOG_FORMATTERS)[number];

const durationSchemas = new WeakSet<z.core.$ZodType>();

/** Whether `schema` is a Go-duration field (so printing can turn milliseconds back into "10s"). */
export function isDurationSchema(schema: z.core.$ZodType): boolean {
  return durationSchemas.has(schema);
}

/** Go's yaml.v2 decodes any scalar into a string field as its text; numbers and booleans become strings. */
function scalarText(value: unknown): unknown {
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
}

const str = () => z.preprocess(scalarText, z.string());
const strList = () => z.array(str());
const bool = () => z.boolean();
const int = () => z.number().int();

/** Storage driver parameters reach Go drivers untyped, so drivers accept "true" and "5" as well. */
const looseBool = () => z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
const looseInt = (schema = int()) =>
  z.preprocess((v) => (typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v), schema);

function duration() {
  const schema = z.unknown().transform((value, ctx): number => {
    // A bare YAML integer decodes into time.Duration as nanoseconds, as in Go.
    if (typeof value === 'number' && Number.isFinite(value)) return value / 1e6;
    const ms = typeof value === 'string' ? parseGoDuration(value.trim()) : undefined;
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected a Go duration such as "10s", "1h30m" or "168h"',
        input: value,
      });
      return z.NEVER;
    }
    return ms;
  });
  durationSchemas.add(schema);
  return schema;
}

/** A byte count: an integer, or a string with a unit such as "512MiB" or "10GB" (see byte-size.ts). */
function byteSize() {
  return z.unknown().transform((value, ctx): number => {
    const bytes = parseByteSize(value);
    if (bytes === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected a byte size such as 1048576, "512MiB" or "10GB"',
        input: value,
      });
      return z.NEVER;
    }
    return bytes;
  });
}

/** A mapping that YAML may leave empty (`inmemory:` parses as null), which means "present, all defaults". */
function section<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.preprocess((v) => (v === null ? {} : v), z.object(shape));
}

/** `storage: inmemory` / `auth: htpasswd` select a type with no parameters, as distribution allows. */
export function normalizeSelector(value: unknown): unknown {
  return typeof value === 'string' ? { [value]: {} } : value;
}

const headerMap = () =>
  z.record(
    z.string(),
    z.preprocess((v) => (Array.isArray(v) ? v : [v]), strList()),
  );

const LogSchema = section({
  level: z.preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(LOG_LEVELS)).default('info'),
  formatter: z.enum(LOG_FORMATTERS).default('text'),
  fields: z.record(z.string(), z.unknown()).optional(),
  reportcaller: bool().optional(),
  accesslog: section({ disabled: bool().default(false) }).prefault({}),
});

const FilesystemSchema = section({
  rootdirectory: str().default('/var/lib/registry'),
  maxthreads: looseInt(int().min(25)).default(100),
  // A Berth extension: large upload writes with O_DIRECT (see storage/drivers/file-batch-writer.ts).
  directio: looseBool().optional(),
});

const S3Schema = section({
  accesskey: str().optional(),
  secretkey: str().optional(),
  sessiontoken: str().optional(),
  region: str().optional(),
  regionendpoint: str().optional(),
  forcepathstyle: looseBool().optional(),
  bucket: str(),
  encrypt: looseBool().optional(),
  keyid: str().optional(),
  secure: looseBool().optional(),
  skipverify: looseBool().optional(),
  v4auth: looseBool().optional(),
  chunksize: looseInt().optional(),
  multipartcopychunksize: looseInt().optional(),
  multipartcopymaxconcurrency: looseInt().optional(),
  multipartcopythresholdsize: looseInt().optional(),
  rootdirectory: str().optional(),
  storageclass: str().optional(),
  useragent: str().optional(),
  usedualstack: looseBool().optional(),
  accelerate: looseBool().optional(),
  objectacl: str().optional(),
  loglevel: str().optional(),
  checksumdisabled: looseBool().optional(),
  checksumalgorithm: str().optional(),
});

const AzureSchema = section({
  accountname: str().optional(),
  accountkey: str().optional(),
  container: str(),
  realm: str().optional(),
  serviceurl: str().optional(),
  rootdirectory: str().optional(),
  credentials: section({
    type: str().optional(),
    clientid: str().optional(),
    tenantid: str().optional(),
    secret: str().optional(),
  }).optional(),
  copystatuspollmaxretry: looseInt().optional(),
  copystatuspolldelay: duration().optional(),
});

const GcsSchema = section({
  bucket: str(),
  keyfile: str().optional(),
  // A Google service-account JSON document: its keys (private_key, client_email, …) are Google's.
  credentials: z.record(z.string(), z.unknown()).optional(),
  rootdirectory: str().optional(),
  chunksize: looseInt().optional(),
  useragent: str().optional(),
  maxconcurrency: looseInt().optional(),
});

const StorageObject = section({
  filesystem: FilesystemSchema.optional(),
  inmemory: section({}).optional(),
  s3: S3Schema.optional(),
  azure: AzureSchema.optional(),
  gcs: GcsSchema.optional(),
  delete: section({ enabled: bool().default(false) }).prefault({}),
  redirect: section({ disable: bool().default(false) }).prefault({}),
  cache: section({
    blobdescriptor: str().optional(),
    blobdescriptorsize: int().optional(),
  }).optional(),
  maintenance: section({
    uploadpurging: section({
      enabled: bool().default(true),
      age: duration().prefault('168h'),
      interval: duration().prefault('24h'),
      dryrun: bool().default(false),
    }).prefault({}),
    readonly: section({ enabled: bool().default(false) }).prefault({}),
    // Berth's online garbage collection; registry:2 has no such key and ignores it.
    gc: section({
      enabled: bool().default(false),
      interval: duration().prefault('1h'),
      graceperiod: duration().prefault('1h'),
    })
      .superRefine((gc, ctx) => {
        for (const key of ['interval', 'graceperiod'] as const) {
          if (!(gc[key] > 0)) ctx.addIssue({ code: 'custom', path: [key], message: 'must be a positive duration' });
        }
      })
      .prefault({}),
  }).prefault({}),
  tag: section({ concurrencylimit: int().min(1).optional() }).optional(),
}).superRefine((storage, ctx) => {
  const drivers = STORAGE_DRIVERS.filter((d) => storage[d] !== undefined);
  if (drivers.length === 0) {
    ctx.addIssue({
      code: 'custom',
      message: `no storage driver configured (expected exactly one of ${STORAGE_DRIVERS.join(', ')})`,
    });
  } else if (drivers.length > 1) {
    ctx.addIssue({
      code: 'custom',
      message: `must configure exactly one storage driver, got ${drivers.join(', ')} (REGISTRY_STORAGE=<driver> selects one)`,
    });
  }
});

const AuthSchema = section({
  silly: section({ realm: str(), service: str() }).optional(),
  token: section({
    realm: str(),
    service: str(),
    issuer: str(),
    rootcertbundle: str().optional(),
    jwks: str().optional(),
    autoredirect: bool().optional(),
    autoredirectpath: str().optional(),
    signingalgorithms: strList().optional(),
    // Berth's built-in token server at <prefix>auth/token (distribution has none); see src/auth/token-server.ts.
    server: section({
      htpasswd: section({ path: str() }),
      key: str().optional(),
      certificate: str().optional(),
      expiration: duration().prefault('5m'),
      refreshexpiration: duration().prefault('720h'),
    }).optional(),
  }).optional(),
  htpasswd: section({ realm: str(), path: str() }).optional(),
}).superRefine((auth, ctx) => {
  const types = AUTH_TYPES.filter((t) => auth[t] !== undefined);
  if (types.length > 1) {
    ctx.addIssue({ code: 'custom', message: `must configure exactly one auth type, got ${types.join(', ')}` });
  }
});

/** Berth's access rules (distribution has none): see src/auth/rules.ts for the semantics. */
const AccessSchema = section({
  groups: z.record(z.string(), strList()).optional(),
  rules: z
    .array(
      section({
        repositories: strList().min(1),
        actions: z.array(z.enum(['pull', 'push', 'delete', '*'])).min(1),
        users: strList().optional(),
        groups: strList().optional(),
        anonymous: bool().default(false),
      }),
    )
    .default([]),
});

const MiddlewareList = () =>
  z
    .array(
      section({
        name: str(),
        disabled: bool().optional(),
        options: z.record(z.string(), z.unknown()).optional(),
      }),
    )
    .optional();

const HttpSchema = section({
  addr: str().default(':5000'),
  net: z.enum(['tcp', 'unix']).optional(),
  host: str()
    .refine((v) => URL.canParse(v), 'expected an absolute URL such as "https://registry.example.com"')
    .optional(),
  prefix: str().optional(),
  secret: str().optional(),
  // Berth's own key: node:cluster workers sharing the port (default: one per CPU; see cli/cluster.ts).
  workers: int().min(1).optional(),
  // Berth's own key: proxies whose X-Forwarded-For is believed for the logged client address (see http/client-address.ts).
  trustedproxies: strList().optional(),
  relativeurls: bool().default(false),
  draintimeout: duration().optional(),
  headers: headerMap().optional(),
  tls: section({
    certificate: str().optional(),
    key: str().optional(),
    clientcas: strList().optional(),
    clientauth: str().optional(),
    minimumtls: z.enum(['tls1.0', 'tls1.1', 'tls1.2', 'tls1.3']).optional(),
    ciphersuites: strList().optional(),
    letsencrypt: section({
      cachefile: str().optional(),
      email: str().optional(),
      hosts: strList().optional(),
      directoryurl: str().optional(),
    }).optional(),
  }).optional(),
  // Berth's own keys (distribution has none): what one client may make the server do; 0 means no limit.
  limits: section({
    maxheaderbytes: byteSize().prefault(65536),
    maxmanifestbytes: byteSize().prefault(4 * 1024 * 1024),
    maxchunkbytes: byteSize().prefault(0),
    maxuploadbytes: byteSize().prefault(0),
    maxconcurrentuploads: int().min(0).default(0),
    idletimeout: duration().prefault('2m'),
  }).prefault({}),
  debug: section({
    addr: str().optional(),
    prometheus: section({ enabled: bool().default(false), path: str().default('/metrics') }).optional(),
  }).optional(),
  http2: section({ disabled: bool().default(false) }).optional(),
  h2c: section({ enabled: bool().default(false) }).optional(),
});

const EndpointSchema = section({
  name: str(),
  disabled: bool().default(false),
  url: str(),
  headers: headerMap().optional(),
  timeout: duration().optional(),
  threshold: int().optional(),
  backoff: duration().optional(),
  ignoredmediatypes: strList().optional(),
  ignore: section({ mediatypes: strList().optional(), actions: strList().optional() }).optional(),
});

const NotificationsSchema = section({
  events: section({ includereferences: bool().default(false) }).optional(),
  endpoints: z.array(EndpointSchema).optional(),
});

const RedisSchema = section({
  addr: str().optional(),
  addrs: strList().optional(),
  username: str().optional(),
  password: str().optional(),
  db: int().optional(),
  dialtimeout: duration().optional(),
  readtimeout: duration().optional(),
  writetimeout: duration().optional(),
  poolsize: int().optional(),
  minidleconns: int().optional(),
  maxidleconns: int().optional(),
  pool: section({
    maxidle: int().optional(),
    maxactive: int().optional(),
    idletimeout: duration().optional(),
  }).optional(),
  tls: section({
    enabled: bool().optional(),
    certificate: str().optional(),
    key: str().optional(),
    clientcas: strList().optional(),
  }).optional(),
});

const HealthSchema = section({
  storagedriver: section({
    enabled: bool().default(false),
    interval: duration().prefault('10s'),
    threshold: int().default(1),
  }).optional(),
  file: z.array(section({ file: str(), interval: duration().prefault('10s') })).optional(),
  http: z
    .array(
      section({
        uri: str(),
        headers: headerMap().optional(),
        statuscode: int().default(200),
        timeout: duration().prefault('5s'),
        interval: duration().prefault('10s'),
        threshold: int().default(1),
      }),
    )
    .optional(),
  tcp: z
    .array(
      section({
        addr: str(),
        timeout: duration().prefault('5s'),
        interval: duration().prefault('10s'),
        threshold: int().default(1),
      }),
    )
    .optional(),
});

const ProxySchema = section({
  remoteurl: str(),
  username: str().optional(),
  password: str().optional(),
  ttl: duration().optional(),
  exec: section({ command: str(), lifetime: duration().optional() }).optional(),
});

const ValidationSchema = section({
  enabled: bool().optional(),
  disabled: bool().default(false),
  manifests: section({
    urls: section({ allow: strList().optional(), deny: strList().optional() }).optional(),
    indexes: section({
      platforms: z.enum(['all', 'list', 'none']).optional(),
      platformlist: z.array(section({ architecture: str(), os: str() })).optional(),
    }).optional(),
  }).optional(),
});

/**
 * Moves the deprecated top-level `loglevel` into `log.level` when the latter is unset, as distribution
 * does, and lets `storage`/`auth` be given as a bare type name.
 */
export function migrateDeprecated(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const { loglevel, ...rest } = raw as Record<string, unknown>;
  if ('storage' in rest) rest['storage'] = normalizeSelector(rest['storage']);
  if ('auth' in rest) rest['auth'] = normalizeSelector(rest['auth']);
  if (loglevel !== undefined) {
    const log = rest['log'];
    const logObj = log !== null && typeof log === 'object' ? (log as Record<string, unknown>) : {};
    if (logObj['level'] === undefined) rest['log'] = { ...logObj, level: loglevel };
  }
  return rest;
}

export const ConfigSchema = z.preprocess(
  migrateDeprecated,
  z.object({
    version: str().refine((v) => v === '0.1', 'unsupported configuration version (expected "0.1")'),
    log: LogSchema.prefault({}),
    storage: StorageObject,
    auth: AuthSchema.optional(),
    access: AccessSchema.optional(),
    middleware: section({
      registry: MiddlewareList(),
      repository: MiddlewareList(),
      storage: MiddlewareList(),
    }).optional(),
    http: HttpSchema.prefault({}),
    notifications: NotificationsSchema.optional(),
    redis: RedisSchema.optional(),
    health: HealthSchema.optional(),
    proxy: ProxySchema.optional(),
    validation: ValidationSchema.optional(),
    compatibility: section({
      schema1: section({ signingkeyfile: str().optional(), enabled: bool().default(false) }).optional(),
    }).optional(),
    catalog: section({ maxentries: int().min(1).default(1000) }).optional(),
  }),
);

/** The effective configuration: distribution's config.yml with defaults applied and durations in ms. */
export type Config = z.infer<typeof ConfigSchema>;
export type LogConfig = Config['log'];
