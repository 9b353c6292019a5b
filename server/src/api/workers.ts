/** GET /api/workers: who executes runs now, and for which pools (`cellflow workers`). */
import type { FastifyInstance } from 'fastify';

import type { ApiContext } from './context.js';
import { errorResponses, workerSchema } from './schemas.js';
import { liveWorkers } from './waiting-for.js';

export function registerWorkerRoutes(
  app: FastifyInstance,
  ctx: ApiContext
): void {
  app.get(
    '/api/workers',
    {
      schema: {
        summary:
          'The live workers (and servers with an executor), the pools each serves, and whether it drains',
        response: {
          200: {
            type: 'object',
            properties: { workers: { type: 'array', items: workerSchema } },
            required: ['workers']
          },
          ...errorResponses
        }
      }
    },
    async () => {
      // Names and pools only: a worker's host and ids are the platform's, not a workspace's.
      const workers = await liveWorkers(ctx.store);
      return {
        workers: workers.map(w => ({
          name: w.name,
          pools: w.pools,
          draining: w.draining,
          startedAt: w.startedAt,
          heartbeatAt: w.heartbeatAt
        }))
      };
    }
  );
}
