/**
 * The admin channel: HTTP over the unix socket `<dataDir>/cellflow-admin.sock`, for `cellflow keys ...`
 * while this server holds the embedded store (PGlite is one process only). No API key: the socket is
 * mode 0600, so the filesystem decides who may use it. Removed on close.
 */
import { connect } from 'node:net';
import { chmod, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';

import {
  checkSecretName,
  checkSecretValue,
  type WorkspaceSecrets
} from '../secrets/workspace-secrets.js';
import type { SecretInfo, Store } from '../store/store.js';

export const ADMIN_SOCKET_FILE = 'cellflow-admin.sock';

export function adminSocketFile(dataDir: string): string {
  return join(dataDir, ADMIN_SOCKET_FILE);
}

export interface AdminChannel {
  readonly path: string;
  close(): Promise<void>;
}

function badRequest(field: string, message: string) {
  return { statusCode: 400, body: { error: 'bad-request', message, field } };
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}

export interface AdminOptions {
  /** Workspace secrets for `cellflow secrets ... --workspace`; without it those routes answer 503. */
  secrets?: WorkspaceSecrets;
  /** Called after a key was revoked here: the API forgets the keys it verified (VerifiedKeys). */
  onKeyRevoked?: () => void;
}

const secretJson = (s: SecretInfo) => ({
  name: s.name,
  createdAt: s.createdAt,
  updatedAt: s.updatedAt
});

export function buildAdminApp(
  store: Store,
  options: AdminOptions = {}
): FastifyInstance {
  const app = Fastify({ logger: false });

  app.post('/admin/keys', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const workspace = text(body.workspace);
    const name = text(body.name);
    if (!workspace) {
      const bad = badRequest(
        'workspace',
        'workspace (a workspace name) is required'
      );
      return reply.code(bad.statusCode).send(bad.body);
    }
    if (!name) {
      const bad = badRequest('name', 'name (a label for the key) is required');
      return reply.code(bad.statusCode).send(bad.body);
    }
    const ws = await store.ensureWorkspace(workspace);
    const created = await store.createApiKey(ws.id, name);
    return reply.code(201).send({ key: created.key, secret: created.secret });
  });

  app.get('/admin/keys', async (request, reply) => {
    const workspace = text(
      (request.query as Record<string, unknown>).workspace
    );
    if (!workspace) {
      const bad = badRequest(
        'workspace',
        'workspace (?workspace=NAME) is required to list keys'
      );
      return reply.code(bad.statusCode).send(bad.body);
    }
    // Listing creates nothing: an unknown workspace is one with no keys to show, said as such.
    const ws = await store.findWorkspaceByName(workspace);
    if (!ws) {
      return reply.code(404).send(noWorkspace(workspace));
    }
    return { keys: await store.listApiKeys(ws.id) };
  });

  app.post('/admin/keys/:id/revoke', async (request, reply) => {
    const { id } = request.params as { id: string };
    const body = (request.body ?? {}) as Record<string, unknown>;
    const workspace =
      text(body.workspace) ??
      text((request.query as Record<string, unknown>).workspace);
    if (!workspace) {
      // The store revokes within a workspace only; it has no lookup of a key by id across workspaces.
      const bad = badRequest(
        'workspace',
        `workspace is required to revoke key ${id}`
      );
      return reply.code(bad.statusCode).send(bad.body);
    }
    const ws = await store.findWorkspaceByName(workspace);
    if (!ws) {
      return reply.code(404).send(noWorkspace(workspace));
    }
    const revoked = await store.revokeApiKey(ws.id, id);
    if (revoked) {
      options.onKeyRevoked?.();
    }
    return { revoked };
  });

  registerSecretRoutes(app, store, options.secrets);

  app.setErrorHandler((error, _request, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    void reply.code(status).send({
      error: status >= 500 ? 'internal' : 'bad-request',
      message: error instanceof Error ? error.message : String(error)
    });
  });
  return app;
}

function noWorkspace(name: string) {
  return { error: 'not-found', message: `no workspace named ${name}` };
}

/**
 * Secrets by workspace name, for the server's machine: PUT {workspace, name, value}, GET ?workspace=,
 * DELETE ?workspace=&name=. The workspace must exist (404 otherwise: nothing is created). Answers never
 * carry a value.
 */
function registerSecretRoutes(
  app: FastifyInstance,
  store: Store,
  secrets: WorkspaceSecrets | undefined
): void {
  type Answer = { statusCode: number; body: Record<string, unknown> };
  const refuse = (reply: FastifyReply, answer: Answer) =>
    reply.code(answer.statusCode).send(answer.body);

  /** The service and the workspace's id, or the refusal to send. */
  async function resolve(
    workspaceName: unknown
  ): Promise<{ secrets: WorkspaceSecrets; workspaceId: string } | Answer> {
    if (!secrets) {
      return {
        statusCode: 503,
        body: {
          error: 'unavailable',
          message:
            'this server was started without workspace secrets (no secrets key)'
        }
      };
    }
    const name = text(workspaceName);
    if (!name) {
      return badRequest(
        'workspace',
        'workspace (a workspace name) is required for secrets'
      );
    }
    const workspace = await store.findWorkspaceByName(name);
    if (!workspace) {
      return { statusCode: 404, body: noWorkspace(name) };
    }
    return { secrets, workspaceId: workspace.id };
  }
  const isAnswer = (x: object): x is Answer => 'statusCode' in x;
  const invalid = (field: 'name' | 'value', problem: string | null) =>
    problem ? badRequest(field, problem) : null;

  app.put('/admin/secrets', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const target = await resolve(body.workspace);
    if (isAnswer(target)) {
      return refuse(reply, target);
    }
    const bad =
      invalid('name', checkSecretName(body.name)) ??
      invalid('value', checkSecretValue(body.value));
    if (bad) {
      return refuse(reply, bad);
    }
    const secret = await target.secrets.set(
      target.workspaceId,
      body.name as string,
      body.value as string
    );
    return reply
      .code(secret.created ? 201 : 200)
      .send({ secret: secretJson(secret), created: secret.created });
  });

  app.get('/admin/secrets', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const target = await resolve(query.workspace);
    if (isAnswer(target)) {
      return refuse(reply, target);
    }
    const list = await target.secrets.list(target.workspaceId);
    return { secrets: list.map(secretJson) };
  });

  app.delete('/admin/secrets', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const target = await resolve(query.workspace);
    if (isAnswer(target)) {
      return refuse(reply, target);
    }
    const bad = invalid('name', checkSecretName(query.name));
    if (bad) {
      return refuse(reply, bad);
    }
    return {
      deleted: await target.secrets.delete(
        target.workspaceId,
        query.name as string
      )
    };
  });
}

/** True when something answers on the socket (another live server). */
function answers(path: string): Promise<boolean> {
  return new Promise(resolve => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startAdminChannel(
  store: Store,
  dataDir: string,
  options: AdminOptions = {}
): Promise<AdminChannel> {
  const path = adminSocketFile(dataDir);
  const existing = await stat(path).catch(() => null);
  if (existing) {
    if (await answers(path)) {
      throw new Error(
        `Another Cellflow server already answers on ${path}: one server per data directory`
      );
    }
    // Left by a server that was killed: nobody listens, so it is safe to replace.
    await rm(path, { force: true });
  }
  const app = buildAdminApp(store, options);
  // Bind with a umask that gives the socket mode 0600 from its first moment, then make sure of it.
  const umask = process.umask(0o177);
  try {
    await app.listen({ path });
  } finally {
    process.umask(umask);
  }
  await chmod(path, 0o600);
  let closed = false;
  return {
    path,
    async close() {
      if (closed) {
        return;
      }
      closed = true;
      await app.close();
      await rm(path, { force: true });
    }
  };
}
