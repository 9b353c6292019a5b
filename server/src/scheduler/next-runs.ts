/**
 * The next run time of each flow of a workspace, from its schedules' maths (not from planned runs: a
 * daily schedule's next run lies beyond the scheduler's look-ahead). For flow listings.
 */
import { nextRuns } from '../../../src/flow/schedule.js';
import type { Store } from '../store/store.js';

/** Flow id → the earliest next run of its schedules that are not paused (flows without one are absent). */
export async function nextRunTimes(
  store: Store,
  workspaceId: string,
  now: Date = new Date()
): Promise<Map<string, Date>> {
  const next = new Map<string, Date>();
  for (const schedule of await store.listSchedules(workspaceId)) {
    if (schedule.paused) {
      continue;
    }
    let at: Date | undefined;
    try {
      [at] = nextRuns(schedule.spec, { after: now, count: 1 });
    } catch {
      // A stored schedule the maths cannot read (a value from before a bound) has no next run.
      continue;
    }
    if (at && !Number.isFinite(at.getTime())) {
      continue;
    }
    const known = next.get(schedule.flowId);
    if (at && (!known || at < known)) {
      next.set(schedule.flowId, at);
    }
  }
  return next;
}
