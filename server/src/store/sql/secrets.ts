/**
 * Workspace secrets as the store sees them: a name and an opaque ciphertext per workspace. Encryption
 * and the name rules are server/src/secrets'; listings here never return the ciphertext.
 */
import { and, eq, sql } from 'drizzle-orm';

import { secrets, workspaces } from '../schema.js';
import type { SecretCiphertext, SecretInfo, Workspace } from '../store.js';
import { requireText, requireWorkspace, type Db } from './common.js';

const infoColumns = {
  name: secrets.name,
  createdAt: secrets.createdAt,
  updatedAt: secrets.updatedAt
};

// Byte order, so both back ends (whatever their database's locale) list names alike.
const byName = sql`${secrets.name} COLLATE "C"`;

export async function findWorkspaceByName(
  db: Db,
  name: string
): Promise<Workspace | null> {
  const [row] = await db
    .select()
    .from(workspaces)
    .where(eq(workspaces.name, name));
  return row ?? null;
}

export async function putSecret(
  db: Db,
  workspaceId: string,
  name: string,
  ciphertext: string
): Promise<SecretInfo & { created: boolean }> {
  requireText('Secret name', name);
  requireText('Secret ciphertext', ciphertext);
  await requireWorkspace(db, workspaceId);
  const [row] = await db
    .insert(secrets)
    .values({ workspaceId, name, ciphertext })
    .onConflictDoUpdate({
      target: [secrets.workspaceId, secrets.name],
      set: {
        ciphertext: sql`excluded.ciphertext`,
        // At least a millisecond later (what a Date holds), so a replace always shows as newer.
        updatedAt: sql`greatest(now(), ${secrets.updatedAt} + interval '1 millisecond')`
      }
    })
    .returning({
      ...infoColumns,
      // xmax is 0 on a row this statement inserted, the updating transaction's id on one it replaced.
      created: sql<boolean>`(xmax = 0)`
    });
  return { ...row, created: Boolean(row.created) };
}

export function listSecrets(
  db: Db,
  workspaceId: string
): Promise<SecretInfo[]> {
  return db
    .select(infoColumns)
    .from(secrets)
    .where(eq(secrets.workspaceId, workspaceId))
    .orderBy(byName);
}

export function getSecretCiphertexts(
  db: Db,
  workspaceId: string
): Promise<SecretCiphertext[]> {
  return db
    .select({ name: secrets.name, ciphertext: secrets.ciphertext })
    .from(secrets)
    .where(eq(secrets.workspaceId, workspaceId))
    .orderBy(byName);
}

export async function deleteSecret(
  db: Db,
  workspaceId: string,
  name: string
): Promise<boolean> {
  const rows = await db
    .delete(secrets)
    .where(and(eq(secrets.workspaceId, workspaceId), eq(secrets.name, name)))
    .returning({ name: secrets.name });
  return rows.length > 0;
}
