/**
 * When a schedule runs: the next runs after a time (previews, the scheduler's look-ahead) and the
 * runs inside a window (catching up on runs missed while no scheduler was running).
 */
import { cronRuns, cronStepBack } from './schedule-cron-runs.js';
import { intervalRuns } from './schedule-interval.js';
import type { ScheduleSpec } from './schedule-types.js';

/** [lo, hi] in ms from a schedule's start and end: the only times it may run. */
function bounds(schedule: ScheduleSpec): { lo: number; hi: number } {
  return {
    lo: schedule.start ? Date.parse(schedule.start) : -Infinity,
    hi: schedule.end ? Date.parse(schedule.end) : Infinity
  };
}

/** The epoch anchors an interval without one, so every server computes the same times. */
function anchorMs(schedule: { anchor?: string }): number {
  return schedule.anchor ? Date.parse(schedule.anchor) : 0;
}

/**
 * The next `count` run times strictly after `after`, within the schedule's start and end. Whether
 * the schedule is paused is the scheduler's business, not this function's.
 */
export function nextRuns(
  schedule: ScheduleSpec,
  opts: { after: Date; count: number }
): Date[] {
  const { lo, hi } = bounds(schedule);
  const afterMs = Math.max(opts.after.getTime(), lo - 1);
  const count = Math.max(0, Math.floor(opts.count));
  if (count === 0) {
    return [];
  }
  const times =
    schedule.kind === 'interval'
      ? intervalRuns(anchorMs(schedule), schedule.every, afterMs + 1, hi, count)
      : cronRuns(schedule.expression, schedule.timezone, afterMs, count, hi);
  return times.map(t => new Date(t));
}

/**
 * The run times in (from, to], within start and end, ascending. When more than `cap` fall in the
 * window only the latest `cap` are returned: after a long downtime the recent runs are the ones
 * worth making (and 'latest' needs just the last one).
 */
export function runsBetween(
  schedule: ScheduleSpec,
  from: Date,
  to: Date,
  cap: number
): Date[] {
  const { lo: startMs, hi: endMs } = bounds(schedule);
  const lo = Math.max(from.getTime() + 1, startMs);
  const hi = Math.min(to.getTime(), endMs);
  const limit = Math.max(0, Math.floor(cap));
  if (limit === 0 || hi < lo) {
    return [];
  }
  if (schedule.kind === 'interval') {
    return intervalRuns(
      anchorMs(schedule),
      schedule.every,
      lo,
      hi,
      limit,
      true
    ).map(t => new Date(t));
  }
  // Walk back far enough to hold `cap` runs, then forward with the DST rules of nextRuns; walk
  // further back if the DST rules dropped some (prev() and next() disagree on DST days).
  let steps = limit + 2;
  for (;;) {
    const begin = cronStepBack(
      schedule.expression,
      schedule.timezone,
      hi + 1,
      steps,
      lo - 1
    );
    const runs = cronRuns(
      schedule.expression,
      schedule.timezone,
      begin,
      Infinity,
      hi
    );
    if (runs.length >= limit || begin <= lo - 1) {
      return runs.slice(-limit).map(t => new Date(t));
    }
    steps *= 2;
  }
}
