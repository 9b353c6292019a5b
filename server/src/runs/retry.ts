/**
 * Retry of a failed run: a new run (trigger 'retry') that names the run it retries. While the run
 * service still keeps the failed run's kernel (kept-kernels.ts, for the retry grace period), the retry
 * continues in it: the tasks that completed there are shown Completed, "kept", without running again.
 * Once that kernel is gone, the tasks that completed are replayed first, to rebuild the kernel's state,
 * and shown as replayed. Either way the run then goes on from the task that failed.
 */
import type { FlowSpec } from '../../../src/flow/spec.js';
import type { FlowRun, FlowRunDetail, Store } from '../store/store.js';

/**
 * The API links a retry to the run it retries with an event of this type, payload `{retryOf}`, appended
 * right after the run is created (server/src/api/runs.ts, RETRY_EVENT).
 */
export const RETRY_EVENT_TYPE = 'flow_run.retry';

export async function retryOfFromEvents(
  store: Store,
  run: FlowRun
): Promise<string | null> {
  const events = await store.listEvents({
    workspaceId: run.workspaceId,
    flowRunId: run.id,
    limit: 50
  });
  const link = events.find(e => e.type === RETRY_EVENT_TYPE);
  const retryOf = link?.payload.retryOf;
  return typeof retryOf === 'string' && retryOf !== '' ? retryOf : null;
}

/**
 * Where the API records the run being retried, inside the run's stored parameters. `_cf_` names are
 * Cellflow's own (no flow parameter may start with it), so it cannot collide with a user's parameter.
 */
export const RETRY_OF_PARAMETER = '_cf_retry_of';
/** Also understood, unless the flow declares a parameter of that name. */
const RETRY_OF_ALIAS = 'retryOf';

export interface RunParameters {
  /** What the kernel receives: the stored values without Cellflow's own keys. */
  values: Record<string, unknown>;
  retryOf: string | null;
}

export function splitRunParameters(
  stored: Record<string, unknown> | null | undefined,
  spec: FlowSpec
): RunParameters {
  const declared = new Set(spec.parameters.map(p => p.name));
  const values: Record<string, unknown> = {};
  let retryOf: string | null = null;
  for (const [name, value] of Object.entries(stored ?? {})) {
    if (
      name === RETRY_OF_PARAMETER ||
      (name === RETRY_OF_ALIAS && !declared.has(name))
    ) {
      if (typeof value === 'string' && value !== '') {
        retryOf = value;
      }
      continue;
    }
    if (name.startsWith('_cf_')) {
      continue;
    }
    values[name] = value;
  }
  return { values, retryOf };
}

/** Task name → the reason shown on its replayed task run: the tasks that completed in the retried run. */
export function replayReasons(
  original: FlowRunDetail | null,
  spec: FlowSpec
): Map<string, string> {
  const reasons = new Map<string, string>();
  if (!original) {
    return reasons;
  }
  const completed = new Set(
    original.taskRuns.filter(t => t.state === 'Completed').map(t => t.taskName)
  );
  for (const task of spec.tasks) {
    if (completed.has(task.name)) {
      reasons.set(task.name, `replayed: completed in run ${original.id}`);
    }
  }
  return reasons;
}

/** Task name → the reason shown on a task kept from the retried run, whose kernel this run continues in. */
export function keptReasons(
  retriedRunId: string,
  completed: readonly string[]
): Map<string, string> {
  return new Map(
    completed.map(name => [name, `kept from run ${retriedRunId} (same kernel)`])
  );
}

/** Whether two runs' parameter values are the same (JSON values: the order of keys does not matter). */
export function sameParameterValues(
  a: Record<string, unknown>,
  b: Record<string, unknown>
): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
