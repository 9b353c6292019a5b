/** The shapes of the Cellflow API's answers the lab reads (see server/src/api/schemas.ts). */
import type { FlowSpec } from '../flow/spec.js';

export interface IFlow {
  id: string;
  name: string;
  paused: boolean;
  latestVersion: number;
  /** When its schedules next start a run (listings); null when nothing is scheduled. */
  nextRunAt?: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface IFlowVersion {
  version: number;
  spec: FlowSpec;
  kernelName: string;
  createdAt: string;
}

export type { FlowRunState } from '../flow/run-states.js';
import type { FlowRunState } from '../flow/run-states.js';

export interface IFlowRun {
  id: string;
  flowId: string;
  flowVersion: number;
  state: FlowRunState;
  trigger: string;
  scheduleId?: string | null;
  scheduledAt?: string | null;
  startedAt?: string | null;
  endedAt?: string | null;
  parameters: Record<string, unknown>;
  error?: string | null;
  stateReason?: string | null;
  createdAt: string;
  retryOf?: string;
  /** A Pending run no live worker takes: "a worker of pool gpu". */
  waitingFor?: string;
}

/** What made a run: a person or a client, a schedule, or a retry of an ended run. */
export type RunTrigger = 'manual' | 'scheduled' | 'retry';

/** GET /api/runs's filters (each list means any of). */
export interface IRunsQuery {
  flowId?: string;
  states?: readonly FlowRunState[];
  triggers?: readonly RunTrigger[];
  /** ISO times: runs whose time (started, else due, else made) is from ≤ t < to. */
  from?: string;
  to?: string;
  cursor?: string;
  limit?: number;
}

/** A page of runs, newest made first; `nextCursor` (null on the last page) asks for the next. */
export interface IRunPage {
  runs: IFlowRun[];
  nextCursor: string | null;
}

export interface ITaskAttempt {
  id: string;
  attempt: number;
  state: string;
  startedAt: string;
  endedAt?: string | null;
  errorName?: string | null;
  errorValue?: string | null;
  traceback?: string[] | null;
  outputs: Record<string, unknown>[];
  outputsTruncated?: boolean;
}

export interface ITaskRun {
  id: string;
  taskName: string;
  state: string;
  attemptCount: number;
  startedAt?: string | null;
  endedAt?: string | null;
  error?: string | null;
  attempts: ITaskAttempt[];
}

export interface IFlowRunDetail extends IFlowRun {
  taskRuns: ITaskRun[];
}

export interface ILogLine {
  id: number;
  task: string | null;
  attempt: number | null;
  stream: string;
  text: string;
  at: string;
}

/**
 * A workspace secret as the API lists it: its name and times, never its value (the wire shape of
 * SecretJson in server/src/api/secrets.ts).
 */
export interface ISecret {
  name: string;
  createdAt: string;
  updatedAt: string;
}

/** A schedule as the API returns it (GET /api/flows/:flowId/schedules, POST, PATCH). */
export interface ISchedule {
  id: string;
  flowId?: string;
  kind: 'interval' | 'cron';
  every?: number;
  expression?: string;
  timezone?: string;
  paused: boolean;
  parameters?: Record<string, unknown>;
  missedPolicy: string;
  description: string;
  nextRuns: string[];
}

export type OverlapPolicy = 'queue' | 'skip' | 'parallel';

/** What a scheduled run does while the flow's runs are active. */
export interface IOverlap {
  overlap: OverlapPolicy;
  maxConcurrent: number | null;
}
