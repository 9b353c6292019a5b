import type { VerifiedKeys } from './auth/verified-keys.js';
import { AjvCompiler } from '@fastify/ajv-compiler';
import cors from '@fastify/cors';
import Fastify, { FastifyInstance, FastifyServerOptions } from 'fastify';

import { registerAuth } from './api/auth.js';
import type { FailedAuthLimit } from './api/failed-auth-limit.js';
import type { ApiContext } from './api/context.js';
import { registerErrorHandlers } from './api/errors.js';
import { frameworkErrors } from './api/input-guard.js';
import { registerEventRoutes } from './api/events.js';
import { registerFlowRoutes } from './api/flows.js';
import { registerMeRoutes } from './api/me.js';
import { registerNotificationRoutes } from './api/notifications.js';
import { collectRoutes, registerOpenApiRoute } from './api/openapi.js';
import { registerRunRoutes } from './api/runs.js';
import { registerWorkerRoutes } from './api/workers.js';
import { registerScheduleRoutes } from './api/schedules.js';
import { registerSecretRoutes } from './api/secrets.js';
import { registerServerInfoRoute } from './api/server-info.js';
import { createEventHub, type EventHub } from './events/hub.js';
import type { NotificationService } from './notifications/service.js';
import type { RunController } from './runs/controller.js';
import type { WorkspaceSecrets } from './secrets/workspace-secrets.js';
import type { Store } from './store/store.js';
import { VERSION } from './version.js';

/** The JupyterLab a developer runs next to the server (`jupyter lab` listens on 8888). */
export const DEFAULT_ALLOWED_ORIGINS = [
  'http://127.0.0.1:8888',
  'http://localhost:8888'
];

/** SSE comment lines keep proxies and the browser from dropping a quiet stream. */
export const DEFAULT_HEARTBEAT_MS = 15_000;

export interface ServerOptions {
  /**
   * The store every route reads and writes. Without one only /api/health and /api/openapi.json
   * answer (every other route gives 503), which is what the bare CLI `server` command starts today.
   */
  store?: Store;
  /** Signals new events to live streams; a fresh in-process hub when omitted. */
  hub?: EventHub;
  /** The run service of this process, told about new runs and cancels; absent in API-only servers. */
  runs?: RunController;
  /**
   * Workspace secrets (openWorkspaceSecrets: the store plus the secrets key). Without it the
   * /api/secrets routes answer 503, as every route does without a store.
   */
  secrets?: WorkspaceSecrets;
  /**
   * Notification rules (needs the secrets key: destinations are sealed with it). Without it the rules
   * can be listed but not added or tested (503).
   */
  notifications?: NotificationService;
  /** Fastify's logger; off by default so tests stay quiet. Never logs headers (no API keys in logs). */
  logger?: boolean;
  /** Where log lines go when `logger` is on (stdout otherwise); tests capture them here. */
  logStream?: { write(line: string): void };
  /** Browser origins allowed by CORS; default the local lab's. */
  allowedOrigins?: string[];
  /**
   * Host headers accepted: `name:port` exactly, `name` on any port, `*.domain` for names under it.
   * Default: 127.0.0.1, localhost and [::1] on any port. Anything else gets 403 (DNS rebinding);
   * `cellflow server` adds its --host, --public-url and --allowed-host names (deployment-settings.ts).
   */
  allowedHosts?: string[];
  /**
   * Fastify's trustProxy: true trusts any peer, a list only those addresses/CIDRs. Only then are
   * X-Forwarded-For (the client address the failed-auth limit counts by), -Host (the Host checked)
   * and -Proto honoured; by default they are ignored.
   */
  trustProxy?: boolean | string[];
  /** The URL users reach this server at (`--public-url`): in GET /api/server and the OpenAPI servers. */
  publicUrl?: string | null;
  /** Failed authentications allowed per client address before 429 (default 20 a minute). */
  failedAuthLimit?: FailedAuthLimit;
  /** The keys verified in the last second (default: the API's own); shared with the admin channel. */
  verifiedKeys?: VerifiedKeys;
  /** Milliseconds between heartbeat comments on event streams. */
  heartbeatMs?: number;
  /** Open event streams one API key may hold; one more gets 429 with Retry-After (default 10). */
  maxStreamsPerKey?: number;
  /**
   * Milliseconds an event stream's client may leave the socket undrained (not reading) before the
   * stream is cut off; it resumes by Last-Event-ID (default 30 s).
   */
  streamStallMs?: number;
}

function loggerOptions(options: ServerOptions): FastifyServerOptions['logger'] {
  if (!options.logger) {
    return false;
  }
  return {
    level: 'info',
    // Requests by method, path and peer only: never headers (Authorization) or query strings.
    serializers: {
      req: request => ({
        method: request.method,
        path: request.url.split('?')[0],
        remoteAddress: request.ip
      }),
      res: reply => ({ statusCode: reply.statusCode })
    },
    ...(options.logStream ? { stream: options.logStream } : {})
  };
}

const AJV_OPTIONS = {
  // Unknown fields are refused with a message naming them, not dropped without a word.
  removeAdditional: false,
  useDefaults: true,
  allErrors: false
} as const;

/**
 * Query strings and path parameters are text, so their numbers and lists are coerced; a JSON body is
 * typed already, so `"paused": "yes"` or `"name": 7` is refused instead of silently converted.
 */
function buildValidator() {
  const pool = AjvCompiler();
  return (externalSchemas: unknown, serverOptions: unknown) => {
    const base = serverOptions as { customOptions?: object };
    const build = (coerceTypes: false | 'array') =>
      pool(
        externalSchemas as never,
        {
          ...base,
          customOptions: { ...base.customOptions, ...AJV_OPTIONS, coerceTypes }
        } as never
      );
    const typed = build(false);
    const text = build('array');
    return (route: { httpPart?: string }) =>
      (route.httpPart === 'body' ? typed : text)(route as never);
  };
}

/**
 * Build the Cellflow HTTP server without listening, so tests can drive it with `inject()`.
 */
export async function buildServer(
  options: ServerOptions = {}
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions(options),
    // Fastify answers 414 to a longer path parameter; this lets the schemas (ids up to 200, secret
    // names up to 128 characters) refuse long ones with a 400 naming the field.
    routerOptions: { maxParamLength: 1000 },
    // A path that is not UTF-8, or a parameter past maxParamLength: 400 in the project's error shape.
    frameworkErrors,
    trustProxy: options.trustProxy ?? false,
    schemaController: {
      compilersFactory: { buildValidator: buildValidator() as never }
    }
  });
  const routes = collectRoutes(app);
  registerErrorHandlers(app);
  await app.register(cors, {
    origin: options.allowedOrigins ?? DEFAULT_ALLOWED_ORIGINS,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: [
      'Authorization',
      'Content-Type',
      'Last-Event-ID',
      'Accept'
    ],
    exposedHeaders: ['Content-Disposition'],
    maxAge: 600
  });
  registerAuth(app, {
    store: options.store,
    allowedHosts: options.allowedHosts,
    failedAuthLimit: options.failedAuthLimit,
    verifiedKeys: options.verifiedKeys
  });

  app.get(
    '/api/health',
    {
      config: { public: true },
      schema: {
        summary: 'Liveness and version',
        response: {
          200: {
            type: 'object',
            properties: {
              status: { type: 'string' },
              version: { type: 'string' }
            },
            required: ['status', 'version']
          }
        }
      }
    },
    async () => ({ status: 'ok', version: VERSION })
  );
  registerServerInfoRoute(app, options.publicUrl ?? null);
  registerOpenApiRoute(app, routes, options.publicUrl ?? null);

  if (options.store) {
    const ctx: ApiContext = {
      store: options.store,
      hub: options.hub ?? createEventHub(),
      runs: options.runs,
      heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
      maxStreamsPerKey: options.maxStreamsPerKey,
      streamStallMs: options.streamStallMs
    };
    registerMeRoutes(app);
    registerFlowRoutes(app, ctx);
    registerRunRoutes(app, ctx);
    registerWorkerRoutes(app, ctx);
    registerScheduleRoutes(app, ctx);
    registerEventRoutes(app, ctx);
    registerSecretRoutes(app, options.secrets);
    registerNotificationRoutes(app, options.store, options.notifications);
  }

  return app;
}
