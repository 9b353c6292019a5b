import { Command } from 'commander';

import {
  parseEvery,
  parseIsoTime,
  previewSchedule,
  userTimeZone,
  validateSchedule
} from '../../../src/flow/schedule.js';

interface PreviewOptions {
  every?: string;
  anchor?: string;
  tz: string;
  from?: string;
  count: string;
}

/** A mistake in what the user typed: reported as one line on stderr, never as a stack trace. */
class UsageError extends Error {}

/** `cellflow schedule preview`: the same description and run times the panel and the API show. */
export function registerScheduleCommand(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('Check schedules before deploying them');
  schedule
    .command('preview')
    .description(
      'Describe a cron or interval schedule and list its next runs in its time zone'
    )
    .argument(
      '[cron]',
      'cron expression: 5 fields, or 6 with seconds first (quote it)'
    )
    .option(
      '--every <duration>',
      'an interval instead of cron: 10s, 5m, 2h, 1d or seconds'
    )
    .option(
      '--anchor <time>',
      'ISO time an interval is aligned to (default: the Unix epoch)'
    )
    .option('--tz <zone>', 'IANA time zone of the schedule', userTimeZone())
    .option(
      '--from <time>',
      'list runs after this ISO time (default: now; no offset = in --tz)'
    )
    .option('--count <n>', 'how many runs to list', '5')
    .action((cron: string | undefined, opts: PreviewOptions) => {
      try {
        process.stdout.write(previewLines(cron, opts).join('\n') + '\n');
      } catch (err) {
        if (!(err instanceof UsageError)) {
          throw err;
        }
        process.stderr.write(`cellflow schedule preview: ${err.message}\n`);
        process.exitCode = 2;
      }
    });
}

function previewLines(
  cron: string | undefined,
  opts: PreviewOptions
): string[] {
  if (cron === undefined && opts.every === undefined) {
    throw new UsageError(
      'give a cron expression (e.g. "0 6 * * 1-5") or --every DURATION'
    );
  }
  if (cron !== undefined && opts.every !== undefined) {
    throw new UsageError(
      `give a cron expression or --every, not both (got '${cron}' and --every ${opts.every})`
    );
  }
  if (opts.anchor !== undefined && opts.every === undefined) {
    throw new UsageError('--anchor only applies to --every');
  }
  const count = Number(opts.count);
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    throw new UsageError(
      `--count must be a whole number from 1 to 1000, got '${opts.count}'`
    );
  }
  let input: Record<string, unknown>;
  if (opts.every !== undefined) {
    let every: number;
    try {
      every = parseEvery(opts.every);
    } catch (err) {
      throw new UsageError(`--every: ${(err as Error).message}`);
    }
    input = {
      kind: 'interval',
      every,
      timezone: opts.tz,
      ...(opts.anchor && { anchor: opts.anchor })
    };
  } else {
    input = { kind: 'cron', expression: cron, timezone: opts.tz };
  }
  const result = validateSchedule(input);
  if (!result.ok) {
    throw new UsageError(result.problems.map(p => p.message).join('; '));
  }
  let from = new Date();
  if (opts.from !== undefined) {
    const parsed = parseIsoTime(opts.from, result.schedule.timezone ?? 'UTC');
    if (typeof parsed === 'string') {
      throw new UsageError(`--from: ${parsed}`);
    }
    from = parsed;
  }
  const preview = previewSchedule(result.schedule, {
    from,
    count,
    viewerZone: 'UTC'
  });
  return [
    preview.description,
    ...preview.runs.map(run =>
      run.note ? `${run.local}  # ${run.note}` : run.local
    )
  ];
}
