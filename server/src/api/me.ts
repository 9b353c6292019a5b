/** GET /api/me: who the key belongs to, so a client can show "signed in to workspace X as key Y". */
import type { FastifyInstance } from 'fastify';

import { principalOf } from './auth.js';
import { errorResponses, meSchema } from './schemas.js';

export function registerMeRoutes(app: FastifyInstance): void {
  app.get(
    '/api/me',
    {
      schema: {
        summary: 'The workspace and API key of the caller',
        response: {
          200: meSchema,
          ...errorResponses
        }
      }
    },
    async request => {
      const { workspace, key } = principalOf(request);
      return {
        workspace: { id: workspace.id, name: workspace.name },
        key: { id: key.id, name: key.name, prefix: key.prefix }
      };
    }
  );
}
