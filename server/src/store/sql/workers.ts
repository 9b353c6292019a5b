/**
 * The workers table: each process that executes runs says which pools it serves and renews a heartbeat,
 * so the API can tell a user that a run waits for a worker of its pool, and who is there.
 */
import { asc, eq, gt, lte } from 'drizzle-orm';

import { workers } from '../schema.js';
import type { Worker, WorkerRegistration } from '../store.js';
import { checkPoolName } from '../store.js';
import { requireText, type Db } from './common.js';

export async function registerWorker(
  db: Db,
  worker: WorkerRegistration
): Promise<void> {
  requireText('Worker id', worker.id);
  if (worker.pools.length === 0) {
    throw new RangeError('a worker serves at least one pool');
  }
  for (const pool of worker.pools) {
    checkPoolName(pool);
  }
  const now = new Date();
  const row = {
    id: worker.id,
    name: worker.name,
    pools: [...worker.pools],
    host: worker.host,
    startedAt: now,
    heartbeatAt: now,
    draining: false
  };
  await db
    .insert(workers)
    .values(row)
    .onConflictDoUpdate({
      target: workers.id,
      set: { pools: row.pools, heartbeatAt: now, draining: false }
    });
}

export async function heartbeatWorker(
  db: Db,
  id: string,
  draining = false
): Promise<boolean> {
  const rows = await db
    .update(workers)
    .set({ heartbeatAt: new Date(), draining })
    .where(eq(workers.id, id))
    .returning({ id: workers.id });
  return rows.length > 0;
}

export async function removeWorker(db: Db, id: string): Promise<void> {
  await db.delete(workers).where(eq(workers.id, id));
}

export async function listWorkers(db: Db, since: Date): Promise<Worker[]> {
  // Those gone quiet are forgotten: a worker that comes back registers again.
  await db.delete(workers).where(lte(workers.heartbeatAt, since));
  return db
    .select()
    .from(workers)
    .where(gt(workers.heartbeatAt, since))
    .orderBy(asc(workers.startedAt), asc(workers.id));
}
