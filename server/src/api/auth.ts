/**
 * Who may talk to the API. Two onRequest checks: the Host header (a page on another site that rebinds
 * its DNS name to 127.0.0.1 still sends its own name as Host, so checking it stops DNS rebinding), then
 * the API key, which resolves to the caller's workspace.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

import {
  UnauthorizedError,
  bearerToken,
  type Principal
} from '../auth/keys.js';
import { VerifiedKeys } from '../auth/verified-keys.js';
import type { Store } from '../store/store.js';
import { ApiError } from './errors.js';
import { FailedAuthLimit } from './failed-auth-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every route that is not public. */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** No API key needed (health, OpenAPI document). */
    public?: boolean;
  }
}

/** Loopback names a local lab uses; any port, since the port is the operator's choice. */
export const DEFAULT_ALLOWED_HOSTNAMES = ['127.0.0.1', 'localhost', '[::1]'];

/** Splits a Host header into a lower-case hostname and its port (null when absent). */
export function parseHost(host: string): {
  hostname: string;
  port: string | null;
} {
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(
    host.trim().toLowerCase()
  );
  if (!match) {
    return { hostname: host.toLowerCase(), port: null };
  }
  return { hostname: match[1], port: match[2] ?? null };
}

/**
 * True when the Host header is allowed: an entry `name:port` allows exactly that; an entry without a
 * port allows the name on any port; `*.example.org` allows every name under example.org.
 */
export function isHostAllowed(
  host: string | undefined,
  allowedHosts: readonly string[] | undefined
): boolean {
  if (!host) {
    return false;
  }
  const { hostname, port } = parseHost(host);
  const entries = allowedHosts ?? DEFAULT_ALLOWED_HOSTNAMES;
  return entries.some(entry => {
    const allowed = parseHost(entry);
    const nameMatches = allowed.hostname.startsWith('*.')
      ? hostname.endsWith(allowed.hostname.slice(1)) &&
        hostname.length > allowed.hostname.length - 1
      : allowed.hostname === hostname;
    return nameMatches && (allowed.port === null || allowed.port === port);
  });
}

/** The 403 for a Host this server is not configured for: it says which setting would allow it. */
export function hostNotAllowed(host: string | undefined): ApiError {
  const shown = (host ?? '').slice(0, 300);
  const name = parseHost(shown).hostname || 'NAME';
  return new ApiError(
    403,
    'forbidden',
    `Host "${shown}" is not allowed: if this server should answer to that name, start it with ` +
      `--allowed-host ${name} (or set CELLFLOW_ALLOWED_HOSTS=${name})`,
    { setting: '--allowed-host' }
  );
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) {
    throw new UnauthorizedError();
  }
  return request.principal;
}

export interface AuthOptions {
  store: Store | undefined;
  allowedHosts?: string[];
  /** Failed authentications allowed per client address (default: FailedAuthLimit's). */
  failedAuthLimit?: FailedAuthLimit;
  /** Keys verified in the last second (default: a new VerifiedKeys on the store). */
  verifiedKeys?: VerifiedKeys;
}

export function registerAuth(app: FastifyInstance, options: AuthOptions): void {
  const limit = options.failedAuthLimit ?? new FailedAuthLimit();
  const keys =
    options.verifiedKeys ??
    (options.store ? new VerifiedKeys(options.store) : null);
  app.addHook('onRequest', async request => {
    // Fastify's `host` is X-Forwarded-Host only when the peer is a trusted proxy, the Host header otherwise.
    const host = request.host;
    if (!isHostAllowed(host, options.allowedHosts)) {
      throw hostNotAllowed(host);
    }
  });
  app.addHook('onRequest', async (request, reply) => {
    // CORS preflights carry no credentials by design; the cors plugin answers them.
    if (request.method === 'OPTIONS') {
      return;
    }
    if (request.routeOptions.config?.public) {
      return;
    }
    if (!options.store) {
      throw new ApiError(
        503,
        'unavailable',
        'This server was started without a store: only /api/health is served'
      );
    }
    const wait = limit.retryAfterSeconds(request.ip);
    if (wait > 0) {
      reply.header('Retry-After', String(wait));
      throw new ApiError(
        429,
        'too-many-requests',
        `Too many failed authentications from this address: try again in ${wait} s`
      );
    }
    try {
      request.principal = await keys!.verify(
        bearerToken(request.headers.authorization)
      );
    } catch (error) {
      if (error instanceof UnauthorizedError) {
        limit.recordFailure(request.ip);
      }
      throw error;
    }
  });
}
