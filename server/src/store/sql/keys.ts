/** Workspaces and their API keys. Keys are stored as SHA-256 only; listings never include the hash. */
import { randomUUID } from 'node:crypto';

import { and, asc, eq, isNull } from 'drizzle-orm';

import {
  apiKeyDisplayPrefix,
  generateApiKey,
  hashApiKey
} from '../../auth/keys.js';
import { apiKeys, workspaces } from '../schema.js';
import type {
  ApiKeyInfo,
  ApiKeyMatch,
  CreatedApiKey,
  Workspace
} from '../store.js';
import { requireText, requireWorkspace, type Db } from './common.js';
import { insertEvent } from './events.js';

const apiKeyInfoColumns = {
  id: apiKeys.id,
  workspaceId: apiKeys.workspaceId,
  name: apiKeys.name,
  prefix: apiKeys.prefix,
  createdAt: apiKeys.createdAt,
  lastUsedAt: apiKeys.lastUsedAt,
  revokedAt: apiKeys.revokedAt
};

export async function ensureWorkspace(
  db: Db,
  name: string
): Promise<Workspace> {
  requireText('Workspace name', name);
  await db
    .insert(workspaces)
    .values({ id: randomUUID(), name })
    .onConflictDoNothing({ target: workspaces.name });
  const [row] = await db
    .select()
    .from(workspaces)
    .where(eq(workspaces.name, name));
  return row;
}

export async function getWorkspace(
  db: Db,
  id: string
): Promise<Workspace | null> {
  const [row] = await db.select().from(workspaces).where(eq(workspaces.id, id));
  return row ?? null;
}

export async function createApiKey(
  db: Db,
  workspaceId: string,
  name: string
): Promise<CreatedApiKey> {
  requireText('API key name', name);
  await requireWorkspace(db, workspaceId);
  const secret = generateApiKey();
  const [key] = await db
    .insert(apiKeys)
    .values({
      id: randomUUID(),
      workspaceId,
      name,
      prefix: apiKeyDisplayPrefix(secret),
      hash: hashApiKey(secret)
    })
    .returning(apiKeyInfoColumns);
  await insertEvent(db, {
    workspaceId,
    type: 'api_key.created',
    payload: { keyId: key.id, name }
  });
  return { key, secret };
}

export function listApiKeys(
  db: Db,
  workspaceId: string
): Promise<ApiKeyInfo[]> {
  return db
    .select(apiKeyInfoColumns)
    .from(apiKeys)
    .where(eq(apiKeys.workspaceId, workspaceId))
    .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
}

export async function revokeApiKey(
  db: Db,
  workspaceId: string,
  keyId: string
): Promise<boolean> {
  const rows = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(
      and(
        eq(apiKeys.id, keyId),
        eq(apiKeys.workspaceId, workspaceId),
        isNull(apiKeys.revokedAt)
      )
    )
    .returning({ id: apiKeys.id });
  if (rows.length === 0) {
    return false;
  }
  await insertEvent(db, {
    workspaceId,
    type: 'api_key.revoked',
    payload: { keyId }
  });
  return true;
}

export async function findApiKeyByHash(
  db: Db,
  hash: string
): Promise<ApiKeyMatch | null> {
  const [row] = await db
    .select({ key: apiKeys, workspace: workspaces })
    .from(apiKeys)
    .innerJoin(workspaces, eq(workspaces.id, apiKeys.workspaceId))
    .where(eq(apiKeys.hash, hash));
  return row ?? null;
}

export async function touchApiKey(
  db: Db,
  keyId: string,
  at: Date
): Promise<void> {
  await db.update(apiKeys).set({ lastUsedAt: at }).where(eq(apiKeys.id, keyId));
}
