/** Media types the registry services recognise. */
export const MEDIA_TYPES = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  /** What distribution answers as a blob's media type: it stores none. */
  octetStream: 'application/octet-stream',
} as const;

/** Manifest media types accepted on push and served on pull. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.ociIndex,
];

/** Docker schema1 media types, refused like distribution 3 does (2.8 only accepts them when enabled). */
export const SCHEMA1_MEDIA_TYPES: readonly string[] = [MEDIA_TYPES.dockerSchema1, MEDIA_TYPES.dockerSchema1Signed];

export function isManifestMediaType(value: string): boolean {
  return MANIFEST_MEDIA_TYPES.includes(value);
}

/** Drops parameters (`; charset=utf-8`) and case from a Content-Type value. */
export function normalizeContentType(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const bare = value.split(';', 1)[0]?.trim().toLowerCase();
  return bare === '' ? undefined : bare;
}
