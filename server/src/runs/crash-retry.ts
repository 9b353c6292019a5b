/**
 * Automatic retries of crashed runs: a run that ends Crashed (its process or its kernel died, not the
 * user's code) gets a new run (trigger 'retry', linked by the retry event with `cause: 'crash'`) when its
 * flow has `retries` left for that chain. Whoever marks a run Crashed (start, the lease sweep, a run's
 * own end) calls retryCrashedRuns with the runs it crashed; the store hands each crash to one caller
 * only, so a crash is retried once. The chain (an original run and the automatic retries after it) gets
 * at most `retries` of them; a retry a user asked for starts a new chain.
 */
import { describeStoreError } from '../store/errors.js';
import { schedulesChanged } from '../scheduler/signal.js';
import type { FlowRun, Store } from '../store/store.js';
import { RETRY_EVENT_TYPE } from './retry.js';

export const CRASH_RETRY_CAUSE = 'crash';

export interface CrashRetryOptions {
  /** Told the workspace of each retry created. */
  notify?: (workspaceId: string) => void;
  /** Told when a retry is Pending (the run service claims it). */
  wake?: () => void;
}

/** Creates the retries the crashed runs' flows allow; returns them. Never rejects (failures are logged). */
export async function retryCrashedRuns(
  store: Store,
  crashed: readonly FlowRun[],
  options: CrashRetryOptions = {}
): Promise<FlowRun[]> {
  const created: FlowRun[] = [];
  for (const run of crashed) {
    if (run.state !== 'Crashed') {
      continue;
    }
    try {
      const retry = await retryCrashedRun(store, run);
      if (retry) {
        created.push(retry);
        options.notify?.(retry.workspaceId);
      }
    } catch (error) {
      console.error(
        `Cellflow: retrying crashed run ${run.id} failed: ${describeStoreError(error)}`
      );
    }
  }
  if (created.some(r => r.state === 'Pending')) {
    options.wake?.();
  }
  if (created.some(r => r.state === 'Scheduled')) {
    // A run the scheduler did not plan: this process's scheduler looks at its time now.
    schedulesChanged(store);
  }
  return created;
}

async function retryCrashedRun(
  store: Store,
  run: FlowRun
): Promise<FlowRun | null> {
  const flow = await store.getFlow(run.workspaceId, run.flowId);
  if (!flow || flow.retries <= 0) {
    return null;
  }
  const before = await automaticRetriesBefore(store, run, flow.retries);
  if (before >= flow.retries) {
    return null;
  }
  const delayMs = flow.retryDelay * 1000;
  // Created Scheduled and linked before it can be claimed, so its execution sees it is a retry.
  let retry = await store.createRun({
    workspaceId: run.workspaceId,
    flowId: run.flowId,
    flowVersion: run.flowVersion,
    trigger: 'retry',
    state: 'Scheduled',
    scheduledAt: new Date(Date.now() + delayMs),
    parameters: run.parameters
  });
  await store.appendEvent({
    workspaceId: run.workspaceId,
    flowId: run.flowId,
    flowRunId: retry.id,
    type: RETRY_EVENT_TYPE,
    payload: {
      retryOf: run.id,
      cause: CRASH_RETRY_CAUSE,
      attempt: before + 1,
      retries: flow.retries,
      reason: `automatic retry ${before + 1} of ${flow.retries}: run ${run.id} crashed (${run.stateReason ?? 'no reason given'})`
    }
  });
  // With a delay, the scheduler releases it once due, like a scheduled run (the overlap policy applies).
  if (delayMs === 0) {
    retry = await store.transitionRun(retry.id, 'Pending', {
      from: 'Scheduled',
      reason: `automatic retry of crashed run ${run.id}`
    });
  }
  return retry;
}

/** How many automatic crash retries lead up to this run (following the retry links back). */
export async function automaticRetriesBefore(
  store: Store,
  run: FlowRun,
  max: number
): Promise<number> {
  let count = 0;
  let current: FlowRun | null = run;
  while (current && current.trigger === 'retry' && count <= max) {
    const events = await store.listEvents({
      workspaceId: current.workspaceId,
      flowRunId: current.id,
      limit: 50
    });
    const link = events.find(e => e.type === RETRY_EVENT_TYPE);
    if (
      !link ||
      link.payload.cause !== CRASH_RETRY_CAUSE ||
      typeof link.payload.retryOf !== 'string'
    ) {
      break;
    }
    count++;
    current = await store.getRunById(link.payload.retryOf);
  }
  return count;
}
