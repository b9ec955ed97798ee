/**
 * The notification event, in registry:2's wire format (distribution's notifications/event.go),
 * and the factory that fills in the request, actor and source parts from the current request
 * context. Field names, nesting and which fields are always present follow Go's JSON encoding of
 * distribution's structs, so a receiver written for registry:2 parses Berth's events unchanged.
 */
import { randomUUID } from 'node:crypto';
import { currentContext } from '../http/context.js';
import type { Digest, RepositoryName, Tag } from '../registry/names.js';
import type { Descriptor } from '../registry/types.js';

/** The `Content-Type` of an envelope POSTed to an endpoint. */
export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';

export const EVENT_ACTIONS = ['push', 'pull', 'delete', 'mount'] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];

/** A descriptor listed in `target.references` (as the manifest wrote it). */
export type ReferenceDescriptor = Record<string, unknown>;

export interface EventTarget {
  /** The target's media type; empty for deletes, which do not know it. */
  mediaType: string;
  /** The target's digest; empty for a tag delete. */
  digest: string;
  /** Size in bytes; 0 for deletes. */
  size: number;
  /** Same as `size` (kept by distribution for old receivers); absent when 0. */
  length?: number;
  /** The repository the event happened in. */
  repository?: string;
  /** For a mount: the repository the blob was mounted from, when the client named one. */
  fromRepository?: string;
  /** Where the target can be fetched (absolute unless `http.relativeurls`). */
  url?: string;
  /** The tag a manifest was pushed or pulled by, or the deleted tag. */
  tag?: string;
  /** With `notifications.events.includereferences`: the descriptors a manifest references. */
  references?: ReferenceDescriptor[];
}

export interface Event {
  /** Unique per event; a receiver may see an event twice (delivery is at least once) and dedupe by it. */
  id: string;
  /** When the action happened (RFC 3339). */
  timestamp: string;
  action: EventAction;
  target: EventTarget;
  /** The client request that caused the event. */
  request: { id: string; addr?: string; host?: string; method: string; useragent: string };
  /** Who did it: the authenticated user, when there is one. */
  actor: { name?: string };
  /** The registry instance that emitted the event. */
  source: { addr?: string; instanceID?: string };
}

/** What is POSTed to an endpoint. */
export interface Envelope {
  events: Event[];
}

/** The registry instance, as events name it. */
export interface EventSource {
  /** `hostname:port`, like distribution (the configured port of `http.addr`). */
  addr: string;
  /** Random per process start. */
  instanceID: string;
}

export interface EventFactory {
  /** A blob pushed (upload committed), pulled or mounted. */
  blob(
    action: 'push' | 'pull' | 'mount',
    repository: RepositoryName,
    descriptor: Descriptor,
    from?: RepositoryName,
  ): Event;
  /** A manifest pushed or pulled, with the tag it was addressed by. */
  manifest(
    action: 'push' | 'pull',
    repository: RepositoryName,
    manifest: { digest: Digest; mediaType: string; payload: Buffer },
    tag?: Tag,
  ): Event;
  /** A blob or manifest deleted by digest. */
  deleted(repository: RepositoryName, digest: Digest): Event;
  /** A tag deleted (the manifest stays). */
  tagDeleted(repository: RepositoryName, tag: Tag): Event;
}

export interface EventFactoryOptions {
  source: EventSource;
  /** `notifications.events.includereferences`. */
  includeReferences: boolean;
}

/** The descriptors a manifest references: config and layers of an image, children of an index. */
export function manifestReferences(payload: Buffer): ReferenceDescriptor[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    return [];
  }
  if (typeof parsed !== 'object' || parsed === null) return [];
  const body = parsed as { config?: unknown; layers?: unknown; manifests?: unknown };
  const isDescriptor = (value: unknown): value is ReferenceDescriptor =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  if (Array.isArray(body.manifests)) return body.manifests.filter(isDescriptor);
  const out: ReferenceDescriptor[] = [];
  if (isDescriptor(body.config)) out.push(body.config);
  if (Array.isArray(body.layers)) out.push(...body.layers.filter(isDescriptor));
  return out;
}

export function createEventFactory(options: EventFactoryOptions): EventFactory {
  const source = { addr: options.source.addr, instanceID: options.source.instanceID };

  function event(action: EventAction, target: EventTarget): Event {
    const context = currentContext();
    const info = context?.request;
    return {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action,
      target,
      request: {
        id: context?.id ?? '',
        ...(info?.addr ? { addr: info.addr } : {}),
        ...(info?.host ? { host: info.host } : {}),
        method: info?.method ?? '',
        useragent: info?.useragent ?? '',
      },
      actor: context?.user ? { name: context.user } : {},
      source: { ...source },
    };
  }

  function sized(mediaType: string, digest: Digest, size: number, repository: RepositoryName): EventTarget {
    return { mediaType, digest, size, ...(size > 0 ? { length: size } : {}), repository };
  }

  return {
    blob(action, repository, descriptor, from) {
      const target = sized(descriptor.mediaType, descriptor.digest, descriptor.size, repository);
      if (from !== undefined) target.fromRepository = from;
      const url = currentContext()?.urls?.blob(repository, descriptor.digest);
      if (url !== undefined) target.url = url;
      return event(action, target);
    },
    manifest(action, repository, manifest, tag) {
      const target = sized(manifest.mediaType, manifest.digest, manifest.payload.length, repository);
      const url = currentContext()?.urls?.manifest(repository, manifest.digest);
      if (url !== undefined) target.url = url;
      if (tag !== undefined) target.tag = tag;
      if (options.includeReferences) {
        const references = manifestReferences(manifest.payload);
        if (references.length > 0) target.references = references;
      }
      return event(action, target);
    },
    deleted(repository, digest) {
      return event('delete', { mediaType: '', digest, size: 0, repository });
    },
    tagDeleted(repository, tag) {
      return event('delete', { mediaType: '', digest: '', size: 0, repository, tag });
    },
  };
}
