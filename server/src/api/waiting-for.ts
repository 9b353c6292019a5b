/**
 * Why a Pending run is not taken: no live worker serves its flow's work pool. Said on the run as
 * `waitingFor: "a worker of pool gpu"`, so the panel and `cellflow runs` can tell a user who waits for
 * what, as Prefect does for a work pool without workers.
 */
import type { FlowRun, Store, Worker } from '../store/store.js';

/** A worker counts as there while its heartbeat is younger than this (it beats every 5 s at most). */
export const WORKER_LIVE_MS = 30_000;

export function liveWorkers(store: Store, now = Date.now()): Promise<Worker[]> {
  return store.listWorkers(new Date(now - WORKER_LIVE_MS));
}

/** For each Pending run of `runs` whose pool no live, non-draining worker serves: what it waits for. */
export async function waitingFor(
  store: Store,
  workspaceId: string,
  runs: readonly FlowRun[]
): Promise<Map<string, string>> {
  const notes = new Map<string, string>();
  const pending = runs.filter(r => r.state === 'Pending');
  if (pending.length === 0) {
    return notes;
  }
  const served = new Set(
    (await liveWorkers(store)).filter(w => !w.draining).flatMap(w => w.pools)
  );
  const pools = new Map<string, string | null>();
  for (const run of pending) {
    if (!pools.has(run.flowId)) {
      pools.set(
        run.flowId,
        (await store.getFlow(workspaceId, run.flowId))?.pool ?? null
      );
    }
    const pool = pools.get(run.flowId);
    if (pool && !served.has(pool)) {
      notes.set(run.id, `a worker of pool ${pool}`);
    }
  }
  return notes;
}
