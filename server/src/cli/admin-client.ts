/**
 * The admin channel: HTTP over the unix socket `<dataDir>/cellflow-admin.sock` that a running server
 * opens. The embedded PGlite store can be open in one process only, so while a server holds the data
 * directory, `cellflow keys ...` asks the server to do the work. No key is needed: the socket is mode
 * 0600, so only its owner can connect.
 */
import { request } from 'node:http';
import { join } from 'node:path';

import { CliError } from './client.js';

export const ADMIN_SOCKET_NAME = 'cellflow-admin.sock';

export function adminSocketPath(dataDir: string): string {
  return join(dataDir, ADMIN_SOCKET_NAME);
}

export interface AdminKey {
  id: string;
  workspaceId: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** A secret as the admin socket lists it: never its value. */
export interface AdminSecret {
  name: string;
  createdAt: string;
  updatedAt: string;
}

/** Nobody listens on the socket (no server, or a stale file left by a killed one). */
export class AdminUnavailableError extends Error {
  constructor(
    readonly socketPath: string,
    readonly code: string
  ) {
    super(`no Cellflow server answers on ${socketPath} (${code})`);
    this.name = 'AdminUnavailableError';
  }
}

// Errors that mean "no server behind this path", as opposed to a server that answered badly.
const UNAVAILABLE = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'ENOTDIR']);

export class AdminClient {
  constructor(readonly socketPath: string) {}

  async createKey(
    workspace: string,
    name: string
  ): Promise<{ key: AdminKey; secret: string }> {
    return this.call('POST', '/admin/keys', { workspace, name });
  }

  async listKeys(workspace: string): Promise<AdminKey[]> {
    const body = await this.call<{ keys: AdminKey[] }>(
      'GET',
      `/admin/keys?workspace=${encodeURIComponent(workspace)}`
    );
    return body.keys;
  }

  async revokeKey(workspace: string, keyId: string): Promise<boolean> {
    const body = await this.call<{ revoked: boolean }>(
      'POST',
      `/admin/keys/${encodeURIComponent(keyId)}/revoke`,
      { workspace }
    );
    return body.revoked;
  }

  /** Sets a secret of an existing workspace (the server refuses an unknown one). */
  putSecret(
    workspace: string,
    name: string,
    value: string
  ): Promise<{ secret: AdminSecret; created: boolean }> {
    return this.call('PUT', '/admin/secrets', { workspace, name, value });
  }

  async listSecrets(workspace: string): Promise<AdminSecret[]> {
    const body = await this.call<{ secrets: AdminSecret[] }>(
      'GET',
      `/admin/secrets?workspace=${encodeURIComponent(workspace)}`
    );
    return body.secrets;
  }

  /** False when the workspace has no secret of that name. */
  async deleteSecret(workspace: string, name: string): Promise<boolean> {
    const body = await this.call<{ deleted: boolean }>(
      'DELETE',
      `/admin/secrets?workspace=${encodeURIComponent(workspace)}&name=${encodeURIComponent(name)}`
    );
    return body.deleted;
  }

  /** One request; AdminUnavailableError when nothing listens, CliError when the server refuses. */
  call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: {
            accept: 'application/json',
            ...(payload === undefined
              ? {}
              : {
                  'content-type': 'application/json',
                  'content-length': Buffer.byteLength(payload)
                })
          }
        },
        res => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', chunk => (text += chunk));
          res.on('error', reject);
          res.on('end', () => {
            let parsed: Record<string, unknown> = {};
            try {
              parsed = JSON.parse(text) as Record<string, unknown>;
            } catch {
              // Reported below by status.
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve(parsed as T);
              return;
            }
            const message =
              typeof parsed.message === 'string'
                ? parsed.message
                : `${method} ${path} answered ${status}`;
            reject(
              new CliError(
                `the server on ${this.socketPath} refused: ${message}`
              )
            );
          });
        }
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code && UNAVAILABLE.has(error.code)) {
          reject(new AdminUnavailableError(this.socketPath, error.code));
        } else {
          reject(
            new CliError(
              `the admin socket ${this.socketPath} failed: ${error.message}`
            )
          );
        }
      });
      req.end(payload);
    });
  }
}
