/**
 * GET /api/server: what a client needs to know about this server before it has a key: its version and
 * the public URL it is reached at (`--public-url`), so links a client shows or sends point there and not
 * at the address it happened to use (a proxy's internal one, a tunnel).
 */
import type { FastifyInstance } from 'fastify';

import { VERSION } from '../version.js';

export function registerServerInfoRoute(
  app: FastifyInstance,
  publicUrl: string | null
): void {
  app.get(
    '/api/server',
    {
      config: { public: true },
      schema: {
        summary: 'The version and public URL of this server',
        response: {
          200: {
            type: 'object',
            properties: {
              version: { type: 'string' },
              publicUrl: { type: ['string', 'null'] }
            },
            required: ['version', 'publicUrl']
          }
        }
      }
    },
    async () => ({ version: VERSION, publicUrl })
  );
}
