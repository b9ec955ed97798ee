/** The handler table: every API route kind to its resource's handlers by method. */
import { baseHandlers } from './base.js';
import { blobHandlers } from './blobs.js';
import { catalogHandlers } from './catalog.js';
import type { ApiRouteKind, MethodHandlers, RouteOf } from './context.js';
import { manifestHandlers } from './manifests.js';
import { referrersHandlers } from './referrers.js';
import { tagsHandlers } from './tags.js';
import { uploadHandlers, uploadStartHandlers } from './uploads.js';

export const API_HANDLERS: { readonly [K in ApiRouteKind]: MethodHandlers<RouteOf<K>> } = {
  base: baseHandlers,
  catalog: catalogHandlers,
  tags: tagsHandlers,
  manifest: manifestHandlers,
  blob: blobHandlers,
  'upload-start': uploadStartHandlers,
  upload: uploadHandlers,
  referrers: referrersHandlers,
};
