/**
 * Real test images built without network: OCI image layouts written from Node, with valid
 * gzip'd tar layers (a minimal ustar writer) that podman and buildah can unpack, configurable
 * layer sizes (large layers are streamed to disk, never held in memory), and multi-arch indexes.
 * Every digest is returned so tests can compare content end to end after a round trip.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlibConstants } from 'node:zlib';

export const OCI_MEDIA_TYPES = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export const DOCKER_MEDIA_TYPES = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  manifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** The annotation an OCI layout's index.json uses to name a tag. */
const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  /** The media type the layout's manifest or index gives it. */
  mediaType: string;
  /** `sha256:<hex>` */
  digest: string;
  /** Bytes of the blob as stored (compressed, for layers). */
  size: number;
}

/** An OCI platform; only the fields the tests use. */
export interface Platform {
  /** e.g. `linux` */
  os: string;
  /** GOARCH spelling: `amd64`, `arm64`… */
  architecture: string;
  /** e.g. `v8` for arm64 */
  variant?: string;
}

/** What goes into one layer's tar. */
export interface LayerSpec {
  /** Small files: path inside the image (no leading slash) → content. */
  files?: Record<string, string>;
  /**
   * Adds one file `random.bin` (or `randomPath`) of this many bytes of incompressible data,
   * generated and written in chunks, so a 100 MiB layer costs a few MiB of memory.
   */
  randomBytes?: number;
  randomPath?: string;
  /** Varies the random data (and thereby the digests) between layers; default the layer's path. */
  seed?: string;
}

export interface Layer extends Descriptor {
  /** sha256 of the uncompressed tar, as listed in the config's `rootfs.diff_ids`. */
  diffId: string;
}

export interface BuiltImage {
  /** Tag in the layout (`oci:<dir>:<tag>`), or undefined for an index's child. */
  tag: string | undefined;
  /** The platform written into the config (and, for a child, into the index). */
  platform: Platform;
  /** The image manifest; its digest is what a registry must serve for the image. */
  manifest: Descriptor;
  /** The image config; its digest is podman's image ID. */
  config: Descriptor;
  /** In manifest order. */
  layers: Layer[];
}

export interface BuiltIndex {
  /** Tag of the index in the layout. */
  tag: string;
  /** The image index itself. */
  index: Descriptor;
  /** One child image per platform, in index order. */
  images: BuiltImage[];
}

export interface ImageOptions {
  /** Names the image in the layout's index.json (replacing an earlier image of that tag). */
  tag: string;
  /** One layer per entry, bottom first. */
  layers: LayerSpec[];
  /** Default linux/amd64. */
  platform?: Platform;
}

export interface IndexOptions {
  /** Names the index in the layout's index.json. */
  tag: string;
  /** Default linux/amd64 and linux/arm64. */
  platforms?: Platform[];
  /** Layers of each child; each platform's files get a marker file so children differ. */
  layers?: LayerSpec[];
}

/** An OCI image layout directory being filled; `ref(tag)` is its skopeo/podman reference. */
export interface OciLayout {
  /** The layout directory. */
  readonly dir: string;
  /** `oci:<dir>:<tag>` */
  ref(tag: string): string;
  /** Writes layers, config and manifest, and names the manifest `tag` in index.json. */
  addImage(options: ImageOptions): Promise<BuiltImage>;
  /** Writes one image per platform and an image index over them, named `tag` in index.json. */
  addIndex(options: IndexOptions): Promise<BuiltIndex>;
}

/** Creates (or empties into) an OCI image layout at `dir`. */
export async function createOciLayout(dir: string): Promise<OciLayout> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const refs: (Descriptor & { annotations: Record<string, string> })[] = [];
  const writeIndex = (): Promise<void> =>
    writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: refs }));
  await writeIndex();

  const name = async (tag: string, descriptor: Descriptor): Promise<void> => {
    const kept = refs.filter((ref) => ref.annotations[REF_NAME] !== tag);
    refs.splice(0, refs.length, ...kept, { ...descriptor, annotations: { [REF_NAME]: tag } });
    await writeIndex();
  };

  const buildImage = async (tag: string | undefined, specs: LayerSpec[], platform: Platform): Promise<BuiltImage> => {
    const layers: Layer[] = [];
    for (const [i, spec] of specs.entries()) layers.push(await writeLayer(dir, spec, `${tag ?? 'child'}-${i}`));
    const configJson = {
      created: '2024-01-01T00:00:00Z',
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant === undefined ? {} : { variant: platform.variant }),
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/hello.txt'] },
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
      history: layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `berth test layer ${i}` })),
    };
    const config = await writeBlob(dir, OCI_MEDIA_TYPES.config, JSON.stringify(configJson));
    const manifestJson = {
      schemaVersion: 2,
      mediaType: OCI_MEDIA_TYPES.manifest,
      config,
      layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    };
    const manifest = await writeBlob(dir, OCI_MEDIA_TYPES.manifest, JSON.stringify(manifestJson));
    return { tag, platform, manifest, config, layers };
  };

  return {
    dir,
    ref: (tag) => `oci:${dir}:${tag}`,
    async addImage({ tag, layers, platform = { os: 'linux', architecture: 'amd64' } }) {
      const image = await buildImage(tag, layers, platform);
      await name(tag, image.manifest);
      return image;
    },
    async addIndex({ tag, platforms = DEFAULT_PLATFORMS, layers = [{}] }) {
      const images: BuiltImage[] = [];
      for (const platform of platforms) {
        const id = [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
        const specs = layers.map((spec, i) => ({
          ...spec,
          files: { ...spec.files, [`platform-${i}.txt`]: `${tag} ${id}\n` },
          seed: `${spec.seed ?? tag}-${id}-${i}`,
        }));
        images.push(await buildImage(undefined, specs, platform));
      }
      const indexJson = {
        schemaVersion: 2,
        mediaType: OCI_MEDIA_TYPES.index,
        manifests: images.map(({ manifest, platform }) => ({ ...manifest, platform })),
      };
      const index = await writeBlob(dir, OCI_MEDIA_TYPES.index, JSON.stringify(indexJson));
      await name(tag, index);
      return { tag, index, images };
    },
  };
}

const DEFAULT_PLATFORMS: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
];

async function writeBlob(dir: string, mediaType: string, content: string): Promise<Descriptor> {
  const bytes = Buffer.from(content, 'utf8');
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(dir, 'blobs', 'sha256', hex), bytes);
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}

/** A fixed modification time keeps layers reproducible for a given spec. */
const MTIME = Math.floor(Date.UTC(2024, 0, 1) / 1000);
const BLOCK = 512;
const CHUNK = 1 << 20;

/**
 * Streams spec → tar → gzip → `blobs/sha256/<digest>`, hashing the tar (diff_id) and the gzip
 * (blob digest) on the way; the blob appears under its name only once complete.
 */
async function writeLayer(dir: string, spec: LayerSpec, defaultSeed: string): Promise<Layer> {
  const tarHash = createHash('sha256');
  const blobHash = createHash('sha256');
  let size = 0;
  const partial = join(dir, 'blobs', `.partial-${process.pid}-${Math.random().toString(36).slice(2)}`);
  async function* hashTar(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      tarHash.update(chunk);
      yield chunk;
    }
  }
  async function* hashBlob(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      blobHash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
  }
  // Deflate cannot shrink random data, so it is stored (still valid gzip) rather than searched for matches.
  const level = spec.randomBytes ? zlibConstants.Z_NO_COMPRESSION : zlibConstants.Z_DEFAULT_COMPRESSION;
  try {
    await pipeline(tarEntries(spec, defaultSeed), hashTar, createGzip({ level }), hashBlob, createWriteStream(partial));
    const hex = blobHash.digest('hex');
    await rename(partial, join(dir, 'blobs', 'sha256', hex));
    return {
      mediaType: OCI_MEDIA_TYPES.layer,
      digest: `sha256:${hex}`,
      size,
      diffId: `sha256:${tarHash.digest('hex')}`,
    };
  } finally {
    await rm(partial, { force: true });
  }
}

async function* tarEntries(spec: LayerSpec, defaultSeed: string): AsyncGenerator<Buffer> {
  const dirs = new Set<string>();
  const parents = function* (path: string): Generator<Buffer> {
    const parts = path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const parent = `${parts.slice(0, i).join('/')}/`;
      if (dirs.has(parent)) continue;
      dirs.add(parent);
      yield tarHeader(parent, 0, '5', 0o755);
    }
  };
  for (const [path, content] of Object.entries(spec.files ?? {})) {
    const bytes = Buffer.from(content, 'utf8');
    yield* parents(path);
    yield tarHeader(path, bytes.length, '0', 0o644);
    yield bytes;
    yield padding(bytes.length);
  }
  if (spec.randomBytes !== undefined) {
    const path = spec.randomPath ?? 'random.bin';
    yield* parents(path);
    yield tarHeader(path, spec.randomBytes, '0', 0o644);
    yield* randomChunks(spec.randomBytes, spec.seed ?? `${defaultSeed}-${path}`);
    yield padding(spec.randomBytes);
  }
  yield Buffer.alloc(2 * BLOCK);
}

/**
 * Deterministic incompressible bytes: the AES-256-CTR keystream of a key derived from `seed`.
 * AES runs in hardware, so 100 MiB take a fraction of a second.
 */
export async function* randomChunks(total: number, seed: string): AsyncGenerator<Buffer> {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  for (let left = total; left > 0; left -= CHUNK) {
    yield cipher.update(left >= CHUNK ? zeros : zeros.subarray(0, left));
  }
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** A POSIX ustar header; names up to 255 bytes via the prefix field, sizes up to 8 GiB. */
function tarHeader(path: string, size: number, type: '0' | '5', mode: number): Buffer {
  const header = Buffer.alloc(BLOCK);
  let name = path;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = path.lastIndexOf('/', path.length - 2);
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
    if (cut < 0 || Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) {
      throw new Error(`tar path too long: ${path}`);
    }
  }
  header.write(name, 0, 100, 'utf8');
  octal(header, 100, 8, mode);
  octal(header, 108, 8, 0);
  octal(header, 116, 8, 0);
  octal(header, 124, 12, size);
  octal(header, 136, 12, MTIME);
  header.write(type, 156, 1, 'ascii');
  header.write('ustar\u000000', 257, 8, 'ascii');
  header.write('root', 265, 32, 'ascii');
  header.write('root', 297, 32, 'ascii');
  header.write(prefix, 345, 155, 'utf8');
  // The checksum is computed with its own field read as spaces.
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return header;
}

function octal(header: Buffer, offset: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, '0');
  if (digits.length > width - 1) throw new Error(`tar field overflow: ${value}`);
  header.write(`${digits}\u0000`, offset, width, 'ascii');
}

/** sha256 of a file, streamed. */
export async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return `sha256:${hash.digest('hex')}`;
}

/** A manifest as read back from a layout or `dir:` copy. */
export interface ReadManifest {
  /** sha256 of the manifest bytes as stored. */
  digest: string;
  /** As the layout's index names it, or the manifest's own `mediaType` for a `dir:` copy. */
  mediaType: string;
  /** The parsed manifest. */
  json: ManifestJson;
}

/** The parts of an image manifest or index the tests compare. */
export interface ManifestJson {
  /** Absent in some OCI manifests; always present in what skopeo writes. */
  mediaType?: string;
  /** Image manifests only. */
  config?: Descriptor;
  /** Image manifests only. */
  layers?: Descriptor[];
  /** Indexes and manifest lists only. */
  manifests?: (Descriptor & { platform?: Platform })[];
}

/**
 * Reads the manifest tagged `tag` in the OCI layout at `dir`, checking that every blob file of
 * the layout hashes to its own name — a truncated or corrupted copy fails here.
 */
export async function readOciLayout(dir: string, tag: string): Promise<ReadManifest & { blobs: Set<string> }> {
  const blobs = await verifyBlobDir(join(dir, 'blobs', 'sha256'), 'sha256:');
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
    manifests: (Descriptor & { annotations?: Record<string, string> })[];
  };
  const ref = index.manifests.find((entry) => entry.annotations?.[REF_NAME] === tag);
  if (ref === undefined) throw new Error(`no ${tag} in ${dir}/index.json`);
  const bytes = await readFile(join(dir, 'blobs', 'sha256', ref.digest.slice('sha256:'.length)));
  return { digest: ref.digest, mediaType: ref.mediaType, json: JSON.parse(bytes.toString('utf8')), blobs };
}

/**
 * Reads a skopeo `dir:` copy: `manifest.json` plus blobs named by their hex digest (and, after
 * `--all`, child manifests named `<hex>.manifest.json`), each of which is checked against its
 * name and returned in `blobs`.
 */
export async function readDirCopy(dir: string): Promise<ReadManifest & { blobs: Set<string> }> {
  const blobs = await verifyBlobDir(dir, 'sha256:', (file) => /^[a-f0-9]{64}(\.manifest\.json)?$/.test(file));
  const bytes = await readFile(join(dir, 'manifest.json'));
  const json = JSON.parse(bytes.toString('utf8')) as ManifestJson;
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return { digest, mediaType: json.mediaType ?? '', json, blobs };
}

async function verifyBlobDir(dir: string, prefix: string, accept: (file: string) => boolean = () => true) {
  const found = new Set<string>();
  for (const file of await readdir(dir)) {
    if (!accept(file) || !(await stat(join(dir, file))).isFile()) continue;
    const actual = await fileDigest(join(dir, file));
    const expected = `${prefix}${file.replace(/\.manifest\.json$/, '')}`;
    if (actual !== expected) throw new Error(`${join(dir, file)} hashes to ${actual}`);
    found.add(actual);
  }
  return found;
}

/** The test's standard small image: two small layers. */
export function smallLayers(name: string): LayerSpec[] {
  return [
    { files: { 'hello.txt': `hello from ${name}\n`, 'etc/berth/name': `${name}\n` } },
    { files: { 'data/second.txt': `second layer of ${name}\n` }, randomBytes: 64 * 1024, seed: name },
  ];
}

/** 100 MiB, the size of the large-layer tests. */
export const MIB_100 = 100 * 1024 * 1024;
