/**
 * Retry of a failed run: a new run (trigger 'retry') that names the run it retries. The failed run's
 * kernel is gone, so the tasks that completed there are replayed first, to rebuild the kernel's state,
 * and shown as replayed; the run then goes on from the task that failed.
 */
import type { FlowSpec } from '../../../src/flow/spec.js';
import type { FlowRunDetail } from '../store/store.js';

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
    if (name === RETRY_OF_PARAMETER || (name === RETRY_OF_ALIAS && !declared.has(name))) {
      if (typeof value === 'string' && value !== '') retryOf = value;
      continue;
    }
    if (name.startsWith('_cf_')) continue;
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
  if (!original) return reasons;
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
