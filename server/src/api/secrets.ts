/**
 * Workspace secrets over the API: list names, set (create or replace) and delete, always in the key's
 * workspace. A value goes in and never comes out: answers carry names and times only, and error
 * messages never repeat a value.
 */
import type { FastifyInstance } from 'fastify';

import {
  checkSecretName,
  checkSecretValue,
  type WorkspaceSecrets
} from '../secrets/workspace-secrets.js';
import type { SecretInfo } from '../store/store.js';
import { principalOf } from './auth.js';
import { ApiError, badRequest, errorSchema, notFound } from './errors.js';
import { errorResponses, secretSchema } from './schemas.js';

interface PutSecretBody {
  value: string;
}

const nameParam = {
  type: 'object',
  properties: {
    // Loose here: checkSecretName says what a name must be, naming the field.
    name: { type: 'string', minLength: 1, maxLength: 1000 }
  },
  required: ['name'],
  additionalProperties: false
} as const;

const secretErrorResponses = { ...errorResponses, 503: errorSchema } as const;

function secretJson(secret: SecretInfo) {
  return {
    name: secret.name,
    createdAt: secret.createdAt,
    updatedAt: secret.updatedAt
  };
}

function checkedName(name: string): string {
  const problem = checkSecretName(name);
  if (problem) {
    throw badRequest(problem, 'name');
  }
  return name;
}

export function registerSecretRoutes(
  app: FastifyInstance,
  secrets: WorkspaceSecrets | undefined
): void {
  const service = (): WorkspaceSecrets => {
    if (!secrets) {
      throw new ApiError(
        503,
        'unavailable',
        'This server was started without workspace secrets (no secrets key): secrets cannot be read or set'
      );
    }
    return secrets;
  };

  app.get(
    '/api/secrets',
    {
      schema: {
        summary: "The workspace's secrets: names and times, never values",
        response: {
          200: {
            type: 'object',
            properties: { secrets: { type: 'array', items: secretSchema } },
            required: ['secrets']
          },
          ...secretErrorResponses
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const list = await service().list(workspace.id);
      return { secrets: list.map(secretJson) };
    }
  );

  app.put(
    '/api/secrets/:name',
    {
      schema: {
        summary:
          "Set a secret (an environment variable of the workspace's kernels): 201 when new, 200 when replaced",
        params: nameParam,
        body: {
          type: 'object',
          properties: {
            value: {
              type: 'string',
              description: '1 to 65536 bytes of UTF-8, no NUL'
            }
          },
          required: ['value'],
          additionalProperties: false
        },
        response: {
          200: secretSchema,
          201: secretSchema,
          ...secretErrorResponses
        }
      }
    },
    async (request, reply) => {
      const { workspace } = principalOf(request);
      const name = checkedName((request.params as { name: string }).name);
      const { value } = request.body as PutSecretBody;
      const problem = checkSecretValue(value);
      if (problem) {
        throw badRequest(problem, 'value');
      }
      const secret = await service().set(workspace.id, name, value);
      return reply.code(secret.created ? 201 : 200).send(secretJson(secret));
    }
  );

  app.delete(
    '/api/secrets/:name',
    {
      schema: {
        summary: 'Delete a secret; kernels started afterwards no longer get it',
        params: nameParam,
        response: { 204: { type: 'null' }, ...secretErrorResponses }
      }
    },
    async (request, reply) => {
      const { workspace } = principalOf(request);
      const name = checkedName((request.params as { name: string }).name);
      if (!(await service().delete(workspace.id, name))) {
        throw notFound(`Secret ${name} not found`);
      }
      return reply.code(204).send();
    }
  );
}
