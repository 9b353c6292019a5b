/**
 * The shapes of the Cellflow API's answers the lab reads: the types derived from the server's response
 * schemas (wire-types.ts, from wire-schemas.ts), under the names the lab uses.
 */
import type {
  WireEvent,
  WireFlow,
  WireFlowRun,
  WireFlowRunDetail,
  WireFlowVersion,
  WireLogLine,
  WireMe,
  WireNotificationDelivery,
  WireNotificationRule,
  WireOverlap,
  WireSchedule,
  WireSecret,
  WireTaskAttempt,
  WireTaskRun
} from './wire-types.js';

export type { FlowRunState } from '../flow/run-states.js';
export type { OverlapPolicy } from './wire-types.js';

export type IFlow = WireFlow;

export type IFlowVersion = WireFlowVersion;

export type IFlowRun = WireFlowRun;
export type ITaskAttempt = WireTaskAttempt;
export type ITaskRun = WireTaskRun;
export type IFlowRunDetail = WireFlowRunDetail;
export type ILogLine = WireLogLine;

/** One event of the server's stream (GET /api/events), decoded. */
export type ICellflowEvent = WireEvent;

/** A workspace secret as the API lists it: its name and times, never its value. */
export type ISecret = WireSecret;

/** A schedule as the API returns it (GET /api/flows/:flowId/schedules, POST, PATCH). */
export type ISchedule = WireSchedule;

/** What a scheduled run does while the flow's runs are active. */
export type IOverlap = WireOverlap;

/** A notification rule as the API lists it: its destination masked, never its URL, secret or address. */
export type INotificationRule = WireNotificationRule;

/** A notification queued or sent for a run, with its outcome and failed attempts. */
export type INotificationDelivery = WireNotificationDelivery;

export type {
  NotificationEvent,
  NotificationKind
} from '../flow/notification-kinds.js';
import type {
  NotificationEvent,
  NotificationKind
} from '../flow/notification-kinds.js';

/** A new rule: the destination is sent once, in the request's body, and never comes back. */
export interface INewNotificationRule {
  /** null: every flow of the workspace. */
  flowId: string | null;
  events: NotificationEvent[];
  kind: NotificationKind;
  /** slack and webhook */
  url?: string;
  /** webhook: signs each body */
  secret?: string;
  /** email */
  email?: string;
}

/** POST /api/notifications/rules/:id/test: whether the test message arrived. */
export interface INotificationTestResult {
  rule: INotificationRule;
  delivered: boolean;
  error: string | null;
}

/** GET /api/me: the workspace and API key of the caller. */
export type IMe = WireMe;

export type { RunTrigger } from '../flow/run-states.js';
import type { FlowRunState, RunTrigger } from '../flow/run-states.js';

/** GET /api/runs's filters, as the lab's client takes them (each list means any of). */
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
