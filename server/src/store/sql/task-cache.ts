/**
 * Cached task results (task_cache, migration 0009): per workspace and cache key, with an expiry and a
 * size bound per workspace. A put removes the workspace's expired entries, then evicts the least
 * recently used ones until the rest fits the bound; a get touches the entry it returns.
 */
import { and, eq, gt, lte, sql } from 'drizzle-orm';

import { taskCache } from '../schema.js';
import type { NewTaskCacheEntry, TaskCacheRow } from '../store.js';
import { requireText, requireWorkspace, type Db } from './common.js';

export async function getTaskCacheEntry(
  db: Db,
  workspaceId: string,
  cacheKey: string,
  now: Date
): Promise<TaskCacheRow | null> {
  const [row] = await db
    .update(taskCache)
    .set({ lastUsedAt: now })
    .where(
      and(
        eq(taskCache.workspaceId, workspaceId),
        eq(taskCache.cacheKey, cacheKey),
        gt(taskCache.expiresAt, now)
      )
    )
    .returning();
  return row ?? null;
}

export async function putTaskCacheEntry(
  db: Db,
  workspaceId: string,
  input: NewTaskCacheEntry,
  maxBytes: number
): Promise<{ evicted: string[] }> {
  requireText('Cache key', input.cacheKey);
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError(
      `the task cache's size bound must be a positive whole number of bytes, got ${maxBytes}`
    );
  }
  if (!(input.expiresAt.getTime() > input.createdAt.getTime())) {
    throw new RangeError(
      `a cache entry must expire after it is made (task '${input.taskName}')`
    );
  }
  const sizeBytes = Buffer.byteLength(JSON.stringify(input.entry), 'utf8');
  if (sizeBytes > maxBytes) {
    throw new RangeError(
      `the cached result of task '${input.taskName}' (${sizeBytes} bytes) is larger than the workspace's task cache (${maxBytes} bytes)`
    );
  }
  await requireWorkspace(db, workspaceId);
  const expired = await db
    .delete(taskCache)
    .where(
      and(
        eq(taskCache.workspaceId, workspaceId),
        lte(taskCache.expiresAt, input.createdAt)
      )
    )
    .returning({ cacheKey: taskCache.cacheKey });
  const row = {
    workspaceId,
    cacheKey: input.cacheKey,
    taskName: input.taskName,
    flowRunId: input.flowRunId,
    entry: input.entry,
    sizeBytes,
    createdAt: input.createdAt,
    expiresAt: input.expiresAt,
    lastUsedAt: input.createdAt
  };
  await db
    .insert(taskCache)
    .values(row)
    .onConflictDoUpdate({
      target: [taskCache.workspaceId, taskCache.cacheKey],
      set: {
        taskName: row.taskName,
        flowRunId: row.flowRunId,
        entry: row.entry,
        sizeBytes: row.sizeBytes,
        createdAt: row.createdAt,
        expiresAt: row.expiresAt,
        lastUsedAt: row.lastUsedAt
      }
    });
  // Most recently used first; whatever no longer fits below the bound goes. The new entry is among
  // the most recent, and fits on its own (checked above).
  const result = await db.execute(sql`
    DELETE FROM task_cache
    WHERE workspace_id = ${workspaceId} AND cache_key IN (
      SELECT cache_key FROM (
        SELECT cache_key,
               sum(size_bytes) OVER (
                 ORDER BY (cache_key = ${input.cacheKey}) DESC, last_used_at DESC, created_at DESC,
                          cache_key COLLATE "C"
               ) AS running
        FROM task_cache WHERE workspace_id = ${workspaceId}
      ) ranked
      WHERE ranked.running > ${maxBytes}
    )
    RETURNING cache_key
  `);
  const evicted = (
    result as unknown as { rows: { cache_key: string }[] }
  ).rows.map(r => r.cache_key);
  return { evicted: [...expired.map(r => r.cacheKey), ...evicted] };
}
