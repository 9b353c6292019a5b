import type { ISchedule } from '../api/types.js';
import { previewSchedule } from '../flow/schedule-describe.js';
import type { PreviewRun, SchedulePreview } from '../flow/schedule-types.js';
import { validateSchedule } from '../flow/schedule-validate.js';
import { formatInZone, formatUtc } from '../flow/schedule-zone.js';

/** The fields of a saved schedule that say when it runs (the API sends them beside its id). */
const TIMING = [
  'kind',
  'every',
  'anchor',
  'expression',
  'timezone',
  'start',
  'end'
] as const;

/**
 * A saved schedule's next runs after `now`, on its zone's clock, computed here with the server's maths
 * so the list moves on as time passes. The server's list, minus the past times, when the schedule
 * cannot be read here; none while paused.
 */
export function upcomingRuns(
  schedule: ISchedule,
  now: Date,
  count: number
): SchedulePreview {
  const zone = schedule.timezone ?? 'UTC';
  const empty = { description: schedule.description, timezone: zone };
  if (schedule.paused) {
    return { ...empty, viewerZone: zone, runs: [] };
  }
  const fields = schedule as unknown as Record<string, unknown>;
  const timing = Object.fromEntries(
    TIMING.filter(key => fields[key] !== undefined && fields[key] !== null).map(
      key => [key, fields[key]]
    )
  );
  const checked = validateSchedule(timing);
  if (checked.ok) {
    try {
      return previewSchedule(checked.schedule, { from: now, count });
    } catch {
      // Times this browser cannot compute (an odd zone): the server's, below.
    }
  }
  const runs: PreviewRun[] = schedule.nextRuns
    .map(at => new Date(at))
    .filter(date => date.getTime() > now.getTime())
    .slice(0, count)
    .map(date => ({
      at: formatUtc(date),
      local: formatInZone(date, zone),
      viewer: formatInZone(date, zone)
    }));
  return { ...empty, viewerZone: zone, runs };
}
