/**
 * Words and previews for schedules: one sentence for a schedule, and each upcoming run as ISO 8601
 * with its offset, in the schedule's zone and the viewer's, with a note when DST moves it. The panel,
 * POST /api/schedules/preview and `cellflow schedule preview` all show previewSchedule's answer.
 */
import cronstrue from 'cronstrue';

import { cronShiftNote } from './schedule-cron.js';
import { describeInterval } from './schedule-interval.js';
import { nextRuns } from './schedule-runs.js';
import type { ScheduleSpec, SchedulePreview } from './schedule-types.js';
import {
  canonicalTimeZone,
  formatClock,
  formatDay,
  formatInZone,
  formatOffset,
  formatUtc,
  userTimeZone,
  wallClock,
  zoneOffsetMs
} from './schedule-zone.js';

const DAY_MS = 86_400_000;

/** The zone a schedule's runs are shown in: a cron's own, an interval's if set, else UTC. */
export function scheduleZone(schedule: ScheduleSpec): string {
  return schedule.timezone ?? 'UTC';
}

/**
 * One readable sentence: "every 10 minutes from :05", "At 06:00, Monday through Friday
 * (Europe/Berlin)". Cron wording comes from cronstrue, whose default bundle is English only: another
 * `locale` falls back to English unless its locale file was loaded.
 */
export function describeSchedule(
  schedule: ScheduleSpec,
  locale?: string
): string {
  const zone = scheduleZone(schedule);
  let text: string;
  if (schedule.kind === 'interval') {
    const anchor = schedule.anchor ? new Date(schedule.anchor) : undefined;
    text = describeInterval(schedule.every, anchor, zone);
    if (schedule.timezone && anchor) {
      text += ` (${zone})`;
    }
  } else {
    try {
      text = cronstrue.toString(schedule.expression, {
        use24HourTimeFormat: true,
        ...(locale && { locale })
      });
    } catch {
      // cronstrue reads a few expressions cron-parser accepts differently; say it plainly.
      text = `cron '${schedule.expression}'`;
    }
    text += ` (${zone})`;
  }
  if (schedule.start) {
    text += `, starting ${formatInZone(new Date(schedule.start), zone)}`;
  }
  if (schedule.end) {
    text += `, until ${formatInZone(new Date(schedule.end), zone)}`;
  }
  if (schedule.paused) {
    text += ' (paused)';
  }
  return text;
}

export interface RunTimeDescription {
  /** ISO 8601 on the zone's wall clock with its offset, e.g. 2026-10-25T02:30:00+02:00. */
  iso: string;
  /** ISO 8601 in UTC. */
  utc: string;
  /** The offset in force, e.g. +02:00. */
  offset: string;
  /** Set when this wall-clock reading occurs twice that day (clocks go back): which one it is. */
  note?: string;
}

/** A run time in a zone, flagging a wall-clock time the fall-back DST change repeats. */
export function describeRunTime(date: Date, zone: string): RunTimeDescription {
  const t = date.getTime();
  const offset = zoneOffsetMs(date, zone);
  const described: RunTimeDescription = {
    iso: formatInZone(date, zone),
    utc: formatUtc(date),
    offset: formatOffset(offset)
  };
  // The same reading also occurs under the offset of the day before (then this is the second) or
  // of the day after (then this is the first).
  const before = zoneOffsetMs(new Date(t - DAY_MS), zone);
  const after = zoneOffsetMs(new Date(t + DAY_MS), zone);
  let which: 'first' | 'second' | undefined;
  if (
    before > offset &&
    zoneOffsetMs(new Date(t - (before - offset)), zone) === before
  ) {
    which = 'second';
  } else if (
    after < offset &&
    zoneOffsetMs(new Date(t + (offset - after)), zone) === after
  ) {
    which = 'first';
  }
  if (which) {
    const w = wallClock(date, zone);
    described.note =
      `${formatClock(w, false)} occurs twice on ${formatDay(w)} in ${zone} (clocks go back); ` +
      `this is the ${which}, at ${formatOffset(offset)}`;
  }
  return described;
}

export interface PreviewOptions {
  /** Runs strictly after this time; default now. */
  from?: Date;
  /** How many runs; default 5. */
  count?: number;
  /** The zone of whoever is looking; default this machine's or browser's. */
  viewerZone?: string;
}

/** The description and the next runs of a (validated) schedule. */
export function previewSchedule(
  schedule: ScheduleSpec,
  opts: PreviewOptions = {}
): SchedulePreview {
  const zone = scheduleZone(schedule);
  const viewerZone = canonicalTimeZone(opts.viewerZone ?? userTimeZone());
  if (viewerZone === null) {
    throw new Error(`unknown viewer time zone '${opts.viewerZone}'`);
  }
  const runs = nextRuns(schedule, {
    after: opts.from ?? new Date(),
    count: opts.count ?? 5
  });
  return {
    description: describeSchedule(schedule),
    timezone: zone,
    viewerZone,
    runs: runs.map(date => {
      const local = describeRunTime(date, zone);
      const note =
        (schedule.kind === 'cron'
          ? cronShiftNote(schedule.expression, zone, date.getTime())
          : undefined) ?? local.note;
      return {
        at: local.utc,
        local: local.iso,
        viewer: formatInZone(date, viewerZone),
        ...(note && { note })
      };
    })
  };
}
