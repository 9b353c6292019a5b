import Fastify, { FastifyInstance } from 'fastify';

import { VERSION } from './version.js';

export interface ServerOptions {
  /** Fastify's logger; off by default so tests stay quiet. Never logs headers (no API keys in logs). */
  logger?: boolean;
}

/**
 * Build the Cellflow HTTP server without listening, so tests can drive it with `inject()`.
 */
export async function buildServer(
  options: ServerOptions = {}
): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false });

  app.get(
    '/api/health',
    {
      schema: {
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

  return app;
}
