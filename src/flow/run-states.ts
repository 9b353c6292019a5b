/**
 * The states a stored flow run and task run can be in: one list for the server's state machine
 * (server/src/store/states.ts), the API's schemas and the panel's filters.
 */

export const FLOW_RUN_STATES = [
  'Scheduled',
  'Late',
  'Pending',
  'Running',
  'Completed',
  'Failed',
  'Crashed',
  'Cancelled',
  'Skipped'
] as const;
export type FlowRunState = (typeof FLOW_RUN_STATES)[number];

export const TASK_RUN_STATES = [
  'Pending',
  'Running',
  'AwaitingRetry',
  'Retrying',
  'Completed',
  'Failed',
  'Crashed',
  'Cancelled'
] as const;
export type TaskRunState = (typeof TASK_RUN_STATES)[number];

/** What made a run: a person or a client, a schedule, or a retry of an ended run. */
export const RUN_TRIGGERS = ['manual', 'scheduled', 'retry'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

/** States a flow run never leaves. */
export const ENDED_FLOW_RUN_STATES: readonly FlowRunState[] = [
  'Completed',
  'Failed',
  'Crashed',
  'Cancelled',
  'Skipped'
];
