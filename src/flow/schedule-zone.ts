/**
 * Time-zone arithmetic on top of Intl alone (this code also runs in the browser, so no tz database
 * of our own): a zone's UTC offset at an instant, wall-clock fields, ISO 8601 with offsets, and wall
 * clock to instant (with DST gaps and overlaps resolved the way cron does).
 */

const DAY_MS = 86_400_000;

/** The zone of the machine or browser running this code. */
export function userTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    // hourCycle h23: some ICU versions print midnight as "24" with hour12: false.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      era: 'short'
    });
    formatters.set(zone, f);
  }
  return f;
}

/**
 * The zone's name, case fixed (e.g. "europe/berlin" → "Europe/Berlin"), or null when Intl does
 * not know it. Offsets such as "+01:00" are refused: cron-parser does not accept them.
 */
export function canonicalTimeZone(zone: string): string | null {
  if (
    typeof zone !== 'string' ||
    zone.trim() === '' ||
    /^[+-]/.test(zone.trim())
  ) {
    return null;
  }
  const given = zone.trim();
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', {
      timeZone: given
    }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
  // ICU resolves some current names to old ones (Asia/Kolkata → Asia/Calcutta): take its spelling
  // only when it is the same name, to fix the case ("utc" → "UTC").
  return resolved.toLowerCase() === given.toLowerCase() ? resolved : given;
}

export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

/** The wall-clock reading in `zone` at `date`. */
export function wallClock(date: Date, zone: string): WallClock {
  const t = date.getTime();
  const parts: Record<string, string> = {};
  for (const p of formatterFor(zone).formatToParts(new Date(t))) {
    parts[p.type] = p.value;
  }
  let year = Number(parts.year);
  if (parts.era === 'BC' || parts.era === 'B') {
    year = 1 - year;
  }
  return {
    year,
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    millisecond: ((t % 1000) + 1000) % 1000
  };
}

/** A wall clock as milliseconds, as if it were UTC: handy for differences and offsets. */
export function wallAsUtcMs(w: WallClock): number {
  const d = new Date(0);
  d.setUTCFullYear(w.year, w.month - 1, w.day);
  d.setUTCHours(w.hour, w.minute, w.second, w.millisecond);
  return d.getTime();
}

/** The zone's offset from UTC at `date`, in milliseconds (+02:00 → 7 200 000). */
export function zoneOffsetMs(date: Date, zone: string): number {
  return wallAsUtcMs(wallClock(date, zone)) - date.getTime();
}

function pad(n: number, width = 2): string {
  return String(Math.abs(n)).padStart(width, '0');
}

/** "+02:00", "-04:00", "+05:30" (seconds only when the offset has them, as historical LMT does). */
export function formatOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const total = Math.round(Math.abs(offsetMs) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${sign}${pad(h)}:${pad(m)}${s ? ':' + pad(s) : ''}`;
}

function formatWall(w: WallClock): string {
  const year = w.year >= 0 && w.year <= 9999 ? pad(w.year, 4) : String(w.year);
  const ms = w.millisecond ? '.' + pad(w.millisecond, 3) : '';
  return `${year}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}${ms}`;
}

/** ISO 8601 on the zone's wall clock with its offset, e.g. 2026-03-29T03:30:00+02:00. */
export function formatInZone(date: Date, zone: string): string {
  return (
    formatWall(wallClock(date, zone)) + formatOffset(zoneOffsetMs(date, zone))
  );
}

/** ISO 8601 in UTC without needless milliseconds, e.g. 2026-03-29T01:30:00Z. */
export function formatUtc(date: Date): string {
  return date.toISOString().replace('.000Z', 'Z');
}

/** "02:30", or "02:30:15" when the seconds matter. */
export function formatClock(
  w: Pick<WallClock, 'hour' | 'minute' | 'second'>,
  withSeconds: boolean
): string {
  return `${pad(w.hour)}:${pad(w.minute)}${withSeconds || w.second ? ':' + pad(w.second) : ''}`;
}

/** "2026-03-29". */
export function formatDay(
  w: Pick<WallClock, 'year' | 'month' | 'day'>
): string {
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`;
}

/**
 * The instant a wall-clock reading in `zone` denotes. A reading that occurs twice (clocks go back)
 * gives the earlier instant; one that does not exist (clocks go forward) is moved forward by the
 * size of the gap (02:30 → 03:30), as cron does.
 */
export function zonedWallToInstant(wall: WallClock, zone: string): Date {
  const wallMs = wallAsUtcMs(wall);
  const before = zoneOffsetMs(new Date(wallMs - DAY_MS), zone);
  const offsets = new Set([
    before,
    zoneOffsetMs(new Date(wallMs), zone),
    zoneOffsetMs(new Date(wallMs + DAY_MS), zone)
  ]);
  const valid: number[] = [];
  for (const o of offsets) {
    const t = wallMs - o;
    if (zoneOffsetMs(new Date(t), zone) === o) {
      valid.push(t);
    }
  }
  if (valid.length) {
    return new Date(Math.min(...valid));
  }
  // In a gap: reading the wall clock with the offset in force before the gap lands past it.
  return new Date(wallMs - before);
}

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Parses an ISO 8601 date or date-time. One without an offset is read on `zone`'s wall clock
 * ("2026-04-01T09:00" in Europe/Berlin is 07:00Z). Returns an error message when it is not valid.
 */
export function parseIsoTime(text: string, zone: string): Date | string {
  if (typeof text !== 'string') {
    return `must be an ISO 8601 time string, got ${JSON.stringify(text)}`;
  }
  const m = ISO_TIME.exec(text.trim());
  if (!m) {
    return `'${text}' is not an ISO 8601 time (e.g. 2026-04-01T09:00:00+02:00)`;
  }
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', off] = m;
  const wall: WallClock = {
    year: Number(y),
    month: Number(mo),
    day: Number(d),
    hour: Number(h),
    minute: Number(mi),
    second: Number(s),
    millisecond: Number(frac.padEnd(3, '0').slice(0, 3))
  };
  const daysInMonth = new Date(Date.UTC(wall.year, wall.month, 0)).getUTCDate();
  if (
    wall.month < 1 ||
    wall.month > 12 ||
    wall.day < 1 ||
    wall.day > daysInMonth ||
    wall.hour > 23 ||
    wall.minute > 59 ||
    wall.second > 59
  ) {
    return `'${text}' is not a valid date and time`;
  }
  if (off === undefined) {
    return zonedWallToInstant(wall, zone);
  }
  let offsetMs = 0;
  if (off !== 'Z' && off !== 'z') {
    const digits = off.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2) || '0');
    if (oh > 23 || om > 59) {
      return `'${text}' has an invalid UTC offset '${off}'`;
    }
    offsetMs = (off[0] === '-' ? -1 : 1) * (oh * 3600 + om * 60) * 1000;
  }
  return new Date(wallAsUtcMs(wall) - offsetMs);
}
