/**
 * The flow-run and task-run state machines: the one place that says which state changes are allowed.
 * Pure (no I/O) so the store, the API and tests all ask the same question the same way.
 */

import {
  FLOW_RUN_STATES,
  TASK_RUN_STATES,
  type FlowRunState,
  type TaskRunState
} from '../../../src/flow/run-states.js';

// The state lists are shared with the lab's panel; the rules about them live here.
export { FLOW_RUN_STATES, TASK_RUN_STATES };
export type { FlowRunState, TaskRunState };

export type RunKind = 'flow_run' | 'task_run';

const FLOW_RUN_NEXT: Record<FlowRunState, readonly FlowRunState[]> = {
  Scheduled: ['Pending', 'Late', 'Cancelled', 'Skipped'],
  // A late run may still start, or the missed-run policy may skip it.
  Late: ['Pending', 'Cancelled', 'Skipped'],
  Pending: ['Running', 'Cancelled'],
  Running: ['Completed', 'Failed', 'Crashed', 'Cancelled'],
  Completed: [],
  Failed: [],
  Crashed: [],
  Cancelled: [],
  Skipped: []
};

const TASK_RUN_NEXT: Record<TaskRunState, readonly TaskRunState[]> = {
  // Pending → Cancelled: the run stopped (or an upstream task failed) before this task began.
  // Pending → Completed: a retry in the failed run's kernel keeps this task's result without running it.
  Pending: ['Running', 'Cancelled', 'Completed'],
  Running: ['Completed', 'Failed', 'Crashed', 'Cancelled', 'AwaitingRetry'],
  // Waiting out the retry delay: the next attempt starts, or the run ends under it.
  AwaitingRetry: ['Retrying', 'Cancelled', 'Crashed'],
  // Retrying is a running attempt after the first; it ends as Running does.
  Retrying: ['Completed', 'Failed', 'Crashed', 'Cancelled', 'AwaitingRetry'],
  Completed: [],
  Failed: [],
  Crashed: [],
  Cancelled: []
};

export function isFlowRunState(value: string): value is FlowRunState {
  return (FLOW_RUN_STATES as readonly string[]).includes(value);
}

export function isTaskRunState(value: string): value is TaskRunState {
  return (TASK_RUN_STATES as readonly string[]).includes(value);
}

export function canTransitionFlowRun(
  from: FlowRunState,
  to: FlowRunState
): boolean {
  return FLOW_RUN_NEXT[from].includes(to);
}

export function canTransitionTaskRun(
  from: TaskRunState,
  to: TaskRunState
): boolean {
  return TASK_RUN_NEXT[from].includes(to);
}

export function isTerminalFlowRunState(state: FlowRunState): boolean {
  return FLOW_RUN_NEXT[state].length === 0;
}

export function isTerminalTaskRunState(state: TaskRunState): boolean {
  return TASK_RUN_NEXT[state].length === 0;
}

/** A task state in which an attempt is executing in the kernel. */
export function isActiveTaskRunState(state: TaskRunState): boolean {
  return state === 'Running' || state === 'Retrying';
}

/** Thrown when the rules forbid a state change; names the run kind, the id and both states. */
export class TransitionRefusedError extends Error {
  readonly code = 'TRANSITION_REFUSED';
  constructor(
    readonly kind: RunKind,
    readonly id: string,
    readonly from: string,
    readonly to: string
  ) {
    super(
      `${kind === 'flow_run' ? 'Flow run' : 'Task run'} ${id}: transition ${from} → ${to} is not allowed`
    );
    this.name = 'TransitionRefusedError';
  }
}

/** Throws TransitionRefusedError unless `from → to` is an allowed flow-run transition. */
export function assertFlowRunTransition(
  id: string,
  from: string,
  to: string
): void {
  if (
    !isFlowRunState(from) ||
    !isFlowRunState(to) ||
    !canTransitionFlowRun(from, to)
  ) {
    throw new TransitionRefusedError('flow_run', id, from, to);
  }
}

/** Throws TransitionRefusedError unless `from → to` is an allowed task-run transition. */
export function assertTaskRunTransition(
  id: string,
  from: string,
  to: string
): void {
  if (
    !isTaskRunState(from) ||
    !isTaskRunState(to) ||
    !canTransitionTaskRun(from, to)
  ) {
    throw new TransitionRefusedError('task_run', id, from, to);
  }
}
