import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';

// Each test starts cold `cellflow` processes (a new data dir is a new PGlite database): on two busy
// cores that alone can take tens of seconds, which is not what these tests measure.
vi.setConfig({ testTimeout: 120_000 });

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/cellflow.js', import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `cellflow schedule preview ARGS` as a user runs it: the built CLI in a child process. */
async function preview(...args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [
      bin,
      'schedule',
      'preview',
      ...args
    ]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A refusal: non-zero exit, one line on stderr naming the thing at fault, no stack trace. */
function expectRefused(result: Result, message: string): void {
  expect(result.code).not.toBe(0);
  expect(result.stdout).toBe('');
  expect(result.stderr).toBe(`cellflow schedule preview: ${message}\n`);
  expect(result.stderr).not.toMatch(/\bat .*:\d+:\d+/);
}

describe('cellflow schedule preview', () => {
  it('prints the description and the runs in the zone, noting the spring-forward shift', async () => {
    const result = await preview(
      '30 2 * * *',
      '--tz',
      'Europe/Berlin',
      '--from',
      '2026-03-28T12:00:00Z',
      '--count',
      '3'
    );
    expect(result).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'At 02:30 (Europe/Berlin)',
        '2026-03-29T03:30:00+02:00  # 02:30 does not exist on 2026-03-29 in Europe/Berlin (clocks go forward); runs at 03:30',
        '2026-03-30T02:30:00+02:00',
        '2026-03-31T02:30:00+02:00',
        ''
      ].join('\n')
    });
  });

  it('reads --from without an offset in --tz, and shows a 6-field cron in New York', async () => {
    const result = await preview(
      '0 0 9 * * 1-5',
      '--tz',
      'America/New_York',
      '--from',
      '2026-11-01T00:00',
      '--count',
      '2'
    );
    expect(result.stdout).toBe(
      'At 09:00, Monday through Friday (America/New_York)\n2026-11-02T09:00:00-05:00\n2026-11-03T09:00:00-05:00\n'
    );
  });

  it('previews an interval given with --every and --anchor', async () => {
    const result = await preview(
      '--every',
      '10m',
      '--anchor',
      '2026-01-01T00:05:00Z',
      '--tz',
      'Asia/Kolkata',
      '--from',
      '2026-01-01T10:00:00Z',
      '--count',
      '2'
    );
    expect(result.stdout).toBe(
      'every 10 minutes from :05 (Asia/Kolkata)\n2026-01-01T15:35:00+05:30\n2026-01-01T15:45:00+05:30\n'
    );
  });

  it('refuses a bad cron field, naming it', async () => {
    expectRefused(
      await preview('61 * * * *', '--tz', 'UTC'),
      "minute field '61' is out of range 0-59"
    );
    expectRefused(
      await preview('* * * *', '--tz', 'UTC'),
      "'* * * *' has 4 fields; a cron expression has 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)"
    );
  });

  it('refuses both a cron expression and --every', async () => {
    expectRefused(
      await preview('0 6 * * *', '--every', '5m'),
      "give a cron expression or --every, not both (got '0 6 * * *' and --every 5m)"
    );
  });

  it('refuses an unknown time zone, naming it', async () => {
    expectRefused(
      await preview('0 6 * * *', '--tz', 'Mars/Base'),
      "unknown time zone 'Mars/Base' (use an IANA name such as Europe/Berlin)"
    );
  });

  it('refuses bad --every, --from and --count, and a missing schedule', async () => {
    expectRefused(
      await preview('--every', '0s'),
      "--every: '0s' is zero: an interval must be at least 1 second"
    );
    expectRefused(
      await preview('0 6 * * *', '--tz', 'UTC', '--from', 'yesterday'),
      "--from: 'yesterday' is not an ISO 8601 time (e.g. 2026-04-01T09:00:00+02:00)"
    );
    expectRefused(
      await preview('0 6 * * *', '--count', '0'),
      "--count must be a whole number from 1 to 1000, got '0'"
    );
    expectRefused(
      await preview(),
      'give a cron expression (e.g. "0 6 * * 1-5") or --every DURATION'
    );
  });
});
