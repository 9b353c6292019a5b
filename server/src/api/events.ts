/**
 * GET /api/events: the workspace's events, as a Server-Sent Events stream when the client accepts
 * `text/event-stream` (a browser reads it with fetch, which can send the Authorization header that
 * EventSource cannot), else as one JSON page. Resume with `Last-Event-ID` or `?after=`.
 *
 * A key holds at most `maxStreamsPerKey` open streams (429 with Retry-After beyond). The open streams of
 * a key re-check it once a second, one store lookup for all of them, and end when it is revoked: a
 * revocation may come from the admin socket, the CLI on the store, or another server on the same
 * PostgreSQL, none of which tells this process's hub, so a timer rather than a notify.
 */
import type { FastifyInstance } from 'fastify';

import { bearerToken, hashApiKey } from '../auth/keys.js';
import { EventStream } from '../events/sse.js';
import { WorkspaceFeeds } from '../events/workspace-feed.js';
import type { Store } from '../store/store.js';
import { principalOf } from './auth.js';
import type { ApiContext } from './context.js';
import { ApiError, badRequest, notFound } from './errors.js';
import { MAX_EVENT_ID, errorResponses, eventSchema } from './schemas.js';

interface EventsQuery {
  flowId?: string;
  runId?: string;
  after?: number;
  live?: boolean;
  limit?: number;
}

function lastEventId(
  header: string | string[] | undefined
): number | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  // An empty header (some clients send one before the first event) is no header.
  if (text === undefined || text.trim() === '') {
    return undefined;
  }
  if (!/^\d{1,15}$/.test(text.trim())) {
    throw badRequest(
      `header "Last-Event-ID" must be an event id (a whole number), got ${JSON.stringify(text)}`,
      'Last-Event-ID'
    );
  }
  return Number(text);
}

export const DEFAULT_MAX_STREAMS_PER_KEY = 10;
/** What a client refused a stream is told to wait: streams are long-lived, so not a moment. */
export const STREAMS_RETRY_AFTER_SECONDS = 5;
/** How often the open streams of a key check it is still valid. */
export const STREAM_KEY_CHECK_MS = 1000;

/** The open streams of one API key, and the timer that ends them when the key is revoked. */
class KeyStreams {
  readonly streams = new Set<EventStream>();
  private readonly timer: NodeJS.Timeout;
  private checking = false;

  constructor(
    private readonly store: Store,
    private readonly keyHash: string,
    private readonly onEmpty: () => void
  ) {
    this.timer = setInterval(() => void this.check(), STREAM_KEY_CHECK_MS);
    this.timer.unref();
  }

  add(stream: EventStream): void {
    this.streams.add(stream);
  }

  delete(stream: EventStream): void {
    this.streams.delete(stream);
    if (this.streams.size === 0) {
      clearInterval(this.timer);
      this.onEmpty();
    }
  }

  private async check(): Promise<void> {
    if (this.checking) {
      return;
    }
    this.checking = true;
    try {
      const match = await this.store.findApiKeyByHash(this.keyHash);
      if (!match || match.key.revokedAt) {
        for (const stream of [...this.streams]) {
          stream.close();
        }
      }
    } catch {
      // The store is unreachable: no verdict. The streams' own reads fail and end them if it stays away.
    } finally {
      this.checking = false;
    }
  }
}

export function registerEventRoutes(
  app: FastifyInstance,
  ctx: ApiContext
): void {
  const { store, hub } = ctx;
  const maxPerKey = ctx.maxStreamsPerKey ?? DEFAULT_MAX_STREAMS_PER_KEY;
  const byKey = new Map<string, KeyStreams>();
  // One store read per workspace for all of its live streams.
  const feeds = new WorkspaceFeeds(store, hub, ctx.heartbeatMs);
  // Open streams would keep app.close() waiting forever: end them first; clients resume from their last id.
  app.addHook('preClose', async () => {
    for (const group of [...byKey.values()]) {
      for (const stream of [...group.streams]) {
        stream.close();
      }
    }
    feeds.close();
  });

  app.get(
    '/api/events',
    {
      schema: {
        summary:
          'Events after an id: a live text/event-stream (Accept: text/event-stream), else one JSON page',
        querystring: {
          type: 'object',
          properties: {
            flowId: { type: 'string', minLength: 1 },
            runId: { type: 'string', minLength: 1 },
            after: { type: 'integer', minimum: 0, maximum: MAX_EVENT_ID },
            live: {
              type: 'boolean',
              description:
                'Start after the latest event instead of replaying the history (Last-Event-ID or after win)'
            },
            limit: { type: 'integer', minimum: 1, maximum: 1000 }
          },
          additionalProperties: false
        },
        headers: {
          type: 'object',
          properties: { 'last-event-id': { type: 'string' } }
        },
        response: {
          200: {
            type: 'object',
            properties: {
              events: { type: 'array', items: eventSchema },
              lastId: { type: 'integer' }
            },
            required: ['events', 'lastId']
          },
          ...errorResponses
        }
      }
    },
    async (request, reply) => {
      const { workspace, key } = principalOf(request);
      const query = request.query as EventsQuery;
      const resumeAfter =
        lastEventId(request.headers['last-event-id']) ?? query.after;
      // A client that only wants what happens from now on (the lab's chips) skips a history that a
      // flow on a 10-second schedule makes thousands of events long within a day.
      const afterId =
        resumeAfter ??
        (query.live ? await store.latestEventId(workspace.id) : 0);
      if (query.flowId && !(await store.getFlow(workspace.id, query.flowId))) {
        throw notFound(`Flow ${query.flowId} not found`);
      }
      if (query.runId && !(await store.getRun(workspace.id, query.runId))) {
        throw notFound(`Run ${query.runId} not found`);
      }
      const accept = request.headers.accept ?? '';
      if (!accept.includes('text/event-stream')) {
        const events = await store.listEvents({
          workspaceId: workspace.id,
          flowId: query.flowId,
          flowRunId: query.runId,
          afterId,
          limit: query.limit
        });
        return {
          events,
          lastId: events.length ? events[events.length - 1].id : afterId
        };
      }
      // From this check to the stream's registration nothing awaits, so concurrent requests cannot both pass.
      const open = byKey.get(key.id)?.streams.size ?? 0;
      if (open >= maxPerKey) {
        reply.header('Retry-After', String(STREAMS_RETRY_AFTER_SECONDS));
        throw new ApiError(
          429,
          'too-many-requests',
          `This API key has ${open} open event streams, the most it may hold: close one, or try again in ${STREAMS_RETRY_AFTER_SECONDS} s`
        );
      }
      reply.hijack();
      // Hijacked replies skip Fastify's header writing: send the CORS headers the hooks set ourselves.
      for (const [name, value] of Object.entries(reply.getHeaders())) {
        if (value !== undefined) {
          reply.raw.setHeader(name, value);
        }
      }
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no'
      });
      reply.raw.flushHeaders();
      let group = byKey.get(key.id);
      if (!group) {
        // The auth hook verified this very header, so it holds a well-formed key.
        const keyHash = hashApiKey(bearerToken(request.headers.authorization)!);
        const created: KeyStreams = new KeyStreams(store, keyHash, () => {
          if (byKey.get(key.id) === created) {
            byKey.delete(key.id);
          }
        });
        group = created;
        byKey.set(key.id, group);
      }
      const owner = group;
      const stream = new EventStream(reply.raw, {
        store,
        hub,
        workspaceId: workspace.id,
        flowId: query.flowId,
        flowRunId: query.runId,
        afterId,
        heartbeatMs: ctx.heartbeatMs,
        stallMs: ctx.streamStallMs,
        feeds,
        onClose: () => owner.delete(stream)
      });
      if (!stream.isClosed) {
        owner.add(stream);
      }
    }
  );
}
