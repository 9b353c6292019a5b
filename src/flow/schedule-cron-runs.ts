/**
 * Cron run times on a zone's wall clock, with the DST rules Cellflow promises (Vixie cron's):
 * - a wall-clock time that does not exist (clocks go forward) runs once, moved forward by the gap
 *   (02:30 Europe/Berlin on 2026-03-29 runs at 03:30 CEST), unless the hour field matches every
 *   hour: such a schedule just runs at its times that do exist;
 * - a wall-clock time that occurs twice (clocks go back) runs once, at its first occurrence, unless
 *   the hour field matches every hour: such a schedule follows elapsed time and also runs in the
 *   repeated hour.
 *
 * cron-parser iterates the expression in UTC over wall-clock readings (no DST there, so no DST bugs:
 * in zones with half-hour changes such as Australia/Lord_Howe its own zone handling skips days and
 * throws "loop limit exceeded"), and each reading is turned into instants here.
 */
import { CronExpressionParser } from 'cron-parser';

import { expandCron, timeFields } from './schedule-cron.js';
import { zoneOffsetMs } from './schedule-zone.js';

const DAY_MS = 86_400_000;

/** The zone's offsets a day either side of `ms`: all offsets in force around it (one change a day at most). */
function nearbyOffsets(ms: number, zone: string): number[] {
  return [
    ...new Set([
      zoneOffsetMs(new Date(ms - DAY_MS), zone),
      zoneOffsetMs(new Date(ms), zone),
      zoneOffsetMs(new Date(ms + DAY_MS), zone)
    ])
  ];
}

/** The instants (ascending) a wall-clock reading (ms, as if UTC) stands for under the rules above. */
function instantsOf(
  wallMs: number,
  zone: string,
  everyHour: boolean
): number[] {
  const valid = nearbyOffsets(wallMs, zone)
    .map(o => wallMs - o)
    .filter(t => zoneOffsetMs(new Date(t), zone) + t === wallMs)
    .sort((a, b) => a - b);
  if (valid.length === 0) {
    // In a gap: read with the offset before the change, the reading lands as far past it as it was
    // into it.
    return everyHour
      ? []
      : [wallMs - zoneOffsetMs(new Date(wallMs - DAY_MS), zone)];
  }
  return everyHour ? valid : valid.slice(0, 1);
}

function wallIterator(expression: string, currentWallMs: number) {
  return CronExpressionParser.parse(expression, {
    tz: 'UTC',
    currentDate: new Date(currentWallMs)
  });
}

/**
 * Up to `count` run times (ms, ascending) strictly after `afterMs` and not after `endMs`.
 */
export function cronRuns(
  expression: string,
  zone: string,
  afterMs: number,
  count: number,
  endMs = Infinity
): number[] {
  const expanded = expandCron(expression);
  const everyHour = timeFields(expanded).hour.size === 24;
  // Any instant after `afterMs` reads at least afterMs + (smallest offset) on the wall clock.
  const it = wallIterator(
    expanded,
    afterMs + Math.min(...nearbyOffsets(afterMs, zone))
  );
  const out: number[] = [];
  // Instants of readings not yet final: near a change a later reading can give an earlier instant
  // (the first 03:00 after the spring gap comes before 02:30 moved to 03:30).
  const pending: number[] = [];
  let last = afterMs;
  const release = (below: number): boolean => {
    while (pending.length && pending[0] < below) {
      const t = pending.shift()!;
      if (t > endMs || out.length >= count) {
        return false;
      }
      if (t > last) {
        out.push(t);
        last = t;
      }
    }
    return out.length < count;
  };
  for (;;) {
    let wall: number;
    try {
      wall = it.next().getTime();
    } catch {
      break; // no further time matches
    }
    // This reading and every later one stand for instants at or after `floor`.
    const floor = wall - Math.max(...nearbyOffsets(wall, zone));
    if (!release(floor) || floor > endMs) {
      break;
    }
    pending.push(...instantsOf(wall, zone, everyHour));
    pending.sort((a, b) => a - b);
  }
  release(Infinity);
  return out;
}

/**
 * A time (ms) at or before the earliest of the `steps` runs before `beforeMs`, or `floorMs` if
 * the walk back reaches it: where a forward walk with cronRuns should start to find those runs.
 */
export function cronStepBack(
  expression: string,
  zone: string,
  beforeMs: number,
  steps: number,
  floorMs: number
): number {
  const it = wallIterator(
    expandCron(expression),
    beforeMs + Math.max(...nearbyOffsets(beforeMs, zone))
  );
  let wall = Infinity;
  for (let i = 0; i < steps; i++) {
    try {
      wall = it.prev().getTime();
    } catch {
      return floorMs;
    }
    if (wall - Math.max(...nearbyOffsets(wall, zone)) <= floorMs) {
      return floorMs;
    }
  }
  return wall - Math.max(...nearbyOffsets(wall, zone)) - 1;
}
