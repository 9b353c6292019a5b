/**
 * Schedule types: what a deployment's schedule is, as stored and sent over the API. Plain JSON data;
 * times are ISO 8601 strings so a stored schedule reads the same on every machine.
 */

/** What happens to runs that fell due while no scheduler was running. */
export type MissedPolicy = 'skip' | 'latest' | 'all';

export interface ScheduleCommon {
  /** A paused schedule creates no runs; the maths (nextRuns, preview) still answer for it. */
  paused?: boolean;
  /** Parameter values for the runs this schedule creates (override the flow's defaults). */
  parameters?: Record<string, unknown>;
  /** Defaults to 'skip' in the scheduler. */
  missedPolicy?: MissedPolicy;
  /** No run before this time (ISO 8601). */
  start?: string;
  /** No run after this time (ISO 8601, inclusive). */
  end?: string;
}

/**
 * Runs at anchor + k × every for every integer k. Without an anchor the Unix epoch
 * (1970-01-01T00:00:00Z) is the anchor, so every server computes the same instants: an hourly
 * schedule runs on the hour (UTC), a 10-minute one at :00, :10, … .
 */
export interface IntervalSchedule extends ScheduleCommon {
  kind: 'interval';
  /** Seconds between runs: a whole number ≥ 1. */
  every: number;
  /** ISO 8601 time the runs are aligned to (it need not be in the future). */
  anchor?: string;
  /** IANA zone used only to display runs (an interval is elapsed time, not wall-clock time). */
  timezone?: string;
}

/** A cron expression evaluated on the wall clock of an IANA time zone. */
export interface CronSchedule extends ScheduleCommon {
  kind: 'cron';
  /** 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first. */
  expression: string;
  /** IANA zone, e.g. Europe/Berlin. validateSchedule fills in the user's zone when missing. */
  timezone: string;
}

export type ScheduleSpec = IntervalSchedule | CronSchedule;

/** One problem with a schedule: the field at fault and a message that names the bad value. */
export interface ScheduleProblem {
  field: string;
  message: string;
}

export type ScheduleValidation =
  | { ok: true; schedule: ScheduleSpec }
  | { ok: false; problems: ScheduleProblem[] };

/** One upcoming run as the panel, the API and the CLI show it. */
export interface PreviewRun {
  /** ISO 8601 in UTC, e.g. 2026-03-29T01:30:00Z. */
  at: string;
  /** ISO 8601 on the schedule zone's wall clock with its offset, e.g. 2026-03-29T03:30:00+02:00. */
  local: string;
  /** ISO 8601 on the viewer's wall clock with its offset. */
  viewer: string;
  /** Set when a DST change affects this run (a skipped or repeated wall-clock time). */
  note?: string;
}

export interface SchedulePreview {
  description: string;
  /** The zone `local` is in. */
  timezone: string;
  viewerZone: string;
  runs: PreviewRun[];
}
