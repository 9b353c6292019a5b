/**
 * The schedule half of `cellflow deploy --every/--cron`: the options as a schedule checked with the
 * same maths as the panel and the server (so a typo stops the command before anything is deployed),
 * and adding it to the flow only when an equal schedule is not already there (re-deploying the same
 * notebook with the same options must not double its runs).
 */
import { formatInZone, validateSchedule } from '../../../src/flow/schedule.js';
import type { ScheduleSpec } from '../../../src/flow/schedule.js';
import type { ApiClient, ScheduleInfo } from './client.js';

export interface DeployScheduleOptions {
  every?: string;
  cron?: string;
  tz?: string;
  /** Parameter values for the schedule's runs (-p name=value). */
  param: Record<string, string>;
}

/** The option a schedule field comes from, so an error names what the user typed. */
const OPTION_OF: Record<string, string> = {
  every: '--every',
  expression: '--cron',
  timezone: '--tz',
  parameters: '-p'
};

export type ScheduleRequest =
  { ok: true; schedule: ScheduleSpec | null } | { ok: false; message: string };

/** The schedule the options ask for (null for none), or one message naming every bad option. */
export function scheduleFromOptions(
  opts: DeployScheduleOptions
): ScheduleRequest {
  const hasParams = Object.keys(opts.param).length > 0;
  if (opts.every === undefined && opts.cron === undefined) {
    if (opts.tz !== undefined) {
      return { ok: false, message: '--tz only applies with --every or --cron' };
    }
    if (hasParams) {
      return {
        ok: false,
        message:
          "-p sets the parameters of the schedule's runs: give --every or --cron too (or use cellflow run -p)"
      };
    }
    return { ok: true, schedule: null };
  }
  if (opts.every !== undefined && opts.cron !== undefined) {
    return {
      ok: false,
      message: `give --every or --cron, not both (got --every ${opts.every} and --cron '${opts.cron}')`
    };
  }
  const input: Record<string, unknown> =
    opts.every !== undefined
      ? { kind: 'interval', every: opts.every }
      : { kind: 'cron', expression: opts.cron };
  if (opts.tz !== undefined) {
    input.timezone = opts.tz;
  }
  if (hasParams) {
    input.parameters = opts.param;
  }
  const result = validateSchedule(input);
  if (!result.ok) {
    return {
      ok: false,
      message: result.problems
        .map(p => `${OPTION_OF[p.field] ?? p.field}: ${p.message}`)
        .join('; ')
    };
  }
  return { ok: true, schedule: result.schedule };
}

/** Key order must not matter when comparing parameter values. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonical).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(
      ([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

/**
 * Same timing and parameters. An interval's zone only changes how its times are shown, so it is not
 * compared; a cron's zone changes when it fires, so it is.
 */
export function sameSchedule(
  wanted: ScheduleSpec,
  existing: ScheduleInfo
): boolean {
  if (wanted.kind !== existing.kind) {
    return false;
  }
  const timing =
    wanted.kind === 'interval'
      ? wanted.every === existing.every && wanted.anchor === existing.anchor
      : wanted.expression === existing.expression &&
        wanted.timezone === existing.timezone;
  return (
    timing &&
    wanted.start === existing.start &&
    wanted.end === existing.end &&
    canonical(wanted.parameters ?? {}) === canonical(existing.parameters ?? {})
  );
}

/** Adds the schedule to the flow unless an equal one is there already. */
export async function ensureSchedule(
  client: ApiClient,
  flowId: string,
  wanted: ScheduleSpec
): Promise<{ schedule: ScheduleInfo; added: boolean }> {
  const existing = (await client.listSchedules(flowId)).find(s =>
    sameSchedule(wanted, s)
  );
  if (existing) {
    return { schedule: existing, added: false };
  }
  return {
    schedule: await client.createSchedule(
      flowId,
      wanted as unknown as Record<string, unknown>
    ),
    added: true
  };
}

/** What deploy prints about the schedule: its description, then its next runs in its zone. */
export function scheduleLines(
  schedule: ScheduleInfo,
  added: boolean
): string[] {
  const zone = schedule.timezone ?? 'UTC';
  const lines = [
    `${added ? 'Added schedule' : 'Schedule already there'} ${schedule.id}: ${schedule.description}` +
      (schedule.paused ? ' (paused)' : '') +
      (Object.keys(schedule.parameters).length
        ? ` with parameters ${JSON.stringify(schedule.parameters)}`
        : '')
  ];
  if (schedule.nextRuns.length) {
    lines.push(`Next runs (${zone}):`);
    for (const at of schedule.nextRuns) {
      lines.push(`  ${formatInZone(new Date(at), zone)}`);
    }
  }
  return lines;
}
