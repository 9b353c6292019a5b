/**
 * `cellflow deploy --every/--cron [--tz] [-p]` and `cellflow runs --upcoming`, as users run them: the
 * built command against a real server child (its scheduler planning real runs).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  api,
  cellflow,
  createKey,
  startServer,
  stopChild,
  type Result,
  type ServerChild
} from './support/cli-child.js';

interface Schedule {
  id: string;
  kind: string;
  every?: number;
  expression?: string;
  timezone?: string;
  parameters: Record<string, unknown>;
}

let dir: string;
let server: ServerChild;
let key: string;
let env: Record<string, string>;

const code = (source: string, metadata: Record<string, unknown> = {}) => ({
  cell_type: 'code',
  id: `c${Math.random().toString(36).slice(2, 10)}`,
  metadata,
  source,
  outputs: [],
  execution_count: null
});

async function notebookFile(
  relative: string,
  name: string,
  cells: unknown[]
): Promise<string> {
  const path = join(dir, relative);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(
    path,
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { cellflow: { name } },
      cells
    })
  );
  return path;
}

const greeter = (relative: string, name: string) =>
  notebookFile(relative, name, [
    code('greeting = "hello"', { tags: ['parameters'] }),
    code('%%task greet\nprint(greeting)')
  ]);

const run = (args: string[]): Promise<Result> => cellflow(args, env);

async function flowNamed(name: string): Promise<{ id: string } | undefined> {
  const { flows } = await api<{ flows: { id: string; name: string }[] }>(
    server,
    key,
    '/api/flows'
  );
  return flows.find(flow => flow.name === name);
}

async function schedulesOf(name: string): Promise<Schedule[]> {
  const flow = await flowNamed(name);
  expect(flow, `flow ${name}`).toBeDefined();
  return (
    await api<{ schedules: Schedule[] }>(
      server,
      key,
      `/api/flows/${flow!.id}/schedules`
    )
  ).schedules;
}

/** The ISO 8601 times (with offset) deploy printed under "Next runs". */
function nextRunLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter(line => /^ {2}\d{4}-\d\d-\d\dT/.test(line))
    .map(line => line.trim());
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellflow-cli-schedules-'));
  await mkdir(join(dir, 'root'));
  server = await startServer(join(dir, 'server-data'), [
    '--root-dir',
    join(dir, 'root')
  ]);
  key = await createKey(server, 'team', join(dir, 'no-config'));
  env = {
    CELLFLOW_API_URL: server.url,
    CELLFLOW_API_KEY: key,
    CELLFLOW_CONFIG_DIR: join(dir, 'no-config')
  };
});

afterAll(async () => {
  await stopChild(server?.process);
  if (dir) {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('cellflow deploy with a schedule', () => {
  it('a bad cron, zone or interval exits 2 naming it, and nothing is deployed', async () => {
    const path = await greeter('bad.ipynb', 'bad-schedule');

    const cron = await run(['deploy', path, '--cron', '61 * * * *']);
    expect(cron.code).toBe(2);
    expect(cron.stderr).toContain('--cron');
    expect(cron.stderr).toContain("'61'");

    const zone = await run([
      'deploy',
      path,
      '--cron',
      '*/1 * * * *',
      '--tz',
      'Mars/Olympus'
    ]);
    expect(zone.code).toBe(2);
    expect(zone.stderr).toContain("--tz: unknown time zone 'Mars/Olympus'");

    const zero = await run(['deploy', path, '--every', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--every');

    const both = await run([
      'deploy',
      path,
      '--every',
      '10s',
      '--cron',
      '* * * * *'
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');

    // Checked before the notebook is even read: a missing file is not what it complains about.
    const first = await run([
      'deploy',
      join(dir, 'missing.ipynb'),
      '--cron',
      '* * * * 8'
    ]);
    expect(first.code).toBe(2);
    expect(first.stderr).toContain('--cron');
    expect(first.stderr).not.toContain('no such file');

    expect(await flowNamed('bad-schedule')).toBeUndefined();
  });

  it('--every 10s deploys, adds the schedule and prints its description and next runs; the same again adds nothing', async () => {
    const path = await greeter('every.ipynb', 'every');
    const first = await run(['deploy', path, '--every', '10s']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^\S+ 1\n$/);
    expect(first.stderr).toMatch(/Added schedule \S+: every 10 seconds/);
    const times = nextRunLines(first.stderr);
    expect(times).toHaveLength(5);
    // 10 seconds apart, as printed.
    const ms = times.map(t => Date.parse(t));
    for (let i = 1; i < ms.length; i++) {
      expect(ms[i] - ms[i - 1]).toBe(10_000);
    }

    const again = await run(['deploy', path, '--every', '10s']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^\S+ 2\n$/);
    expect(again.stderr).toMatch(
      /Schedule already there \S+: every 10 seconds/
    );
    // "10" seconds is the same interval as "10s".
    await run(['deploy', path, '--every', '10']);
    let schedules = await schedulesOf('every');
    expect(schedules).toHaveLength(1);
    expect(schedules[0]).toMatchObject({ kind: 'interval', every: 10 });

    // Other parameter values make another schedule; the same values again do not.
    const withParams = await run([
      'deploy',
      path,
      '--every',
      '10s',
      '-p',
      'greeting=hi'
    ]);
    expect(withParams.stderr).toContain('Added schedule');
    expect(withParams.stderr).toContain('{"greeting":"hi"}');
    await run(['deploy', path, '--every', '10s', '-p', 'greeting=hi']);
    schedules = await schedulesOf('every');
    expect(schedules.map(s => s.parameters)).toEqual(
      expect.arrayContaining([{}, { greeting: 'hi' }])
    );
    expect(schedules).toHaveLength(2);
  });

  it('--cron with --tz: the description names the zone, next runs carry its offset; another zone is another schedule', async () => {
    const path = await greeter('cron.ipynb', 'cron');
    const berlin = await run([
      'deploy',
      path,
      '--cron',
      '*/1 * * * *',
      '--tz',
      'Europe/Berlin'
    ]);
    expect(berlin.code, berlin.stderr).toBe(0);
    expect(berlin.stderr).toMatch(/Added schedule \S+: .*Europe\/Berlin/);
    expect(berlin.stderr).toContain('Next runs (Europe/Berlin):');
    const times = nextRunLines(berlin.stderr);
    expect(times).toHaveLength(5);
    for (const time of times) {
      expect(time).toMatch(/T\d\d:\d\d:00\+0[12]:00$/);
    }

    const same = await run([
      'deploy',
      path,
      '--cron',
      '*/1 * * * *',
      '--tz',
      'Europe/Berlin'
    ]);
    expect(same.stderr).toContain('Schedule already there');
    const tokyo = await run([
      'deploy',
      path,
      '--cron',
      '*/1 * * * *',
      '--tz',
      'Asia/Tokyo'
    ]);
    expect(tokyo.stderr).toContain('Added schedule');
    expect(nextRunLines(tokyo.stderr)[0]).toMatch(/\+09:00$/);
    const schedules = await schedulesOf('cron');
    expect(schedules.map(s => s.timezone).sort()).toEqual([
      'Asia/Tokyo',
      'Europe/Berlin'
    ]);
  });

  it('records the notebook path, so a server with --root-dir runs the kernel in the notebook folder', async () => {
    const folder = join(dir, 'root', 'project');
    const path = await notebookFile('root/project/where.ipynb', 'where', [
      code('%%task where\nimport os\nprint("cwd=" + os.getcwd())')
    ]);
    const deployed = await run(['deploy', path]);
    expect(deployed.code, deployed.stderr).toBe(0);
    const started = await run(['run', 'where', '--watch']);
    expect(started.code, started.stdout + started.stderr).toBe(0);
    const runId = started.stdout.split('\n')[0];
    const logs = await run(['logs', runId]);
    expect(logs.stdout).toContain(`cwd=${folder}`);
  });
});

describe('cellflow deploy --flow-retries', () => {
  it("sets the flow's automatic retries of crashed runs; out of bounds exits 2 before deploying", async () => {
    const path = await greeter('retried.ipynb', 'retried');
    const bad = await run(['deploy', path, '--flow-retries', '11']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      '--flow-retries must be a whole number from 0 to 10'
    );
    expect(await flowNamed('retried')).toBeUndefined();

    const ok = await run([
      'deploy',
      path,
      '--flow-retries',
      '2',
      '--flow-retry-delay',
      '5'
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(
      'retried automatically up to 2 time(s), 5 s after the crash'
    );
    expect(await flowNamed('retried')).toMatchObject({
      retries: 2,
      retryDelay: 5
    });
  });
});

describe('cellflow runs --upcoming', () => {
  it('lists the planned runs of the schedules, soonest first, with their scheduled time', async () => {
    const path = await greeter('upcoming.ipynb', 'upcoming');
    await run(['deploy', path, '--every', '15s']);
    await run(['deploy', path, '--cron', '*/20 * * * * *', '--tz', 'UTC']);
    // The scheduler plans a minute ahead as soon as a schedule changes; wait for it on the CLI's output.
    let rows: string[][] = [];
    for (let attempt = 0; attempt < 100 && rows.length < 4; attempt++) {
      const listed = await run(['runs', '--upcoming', '--flow', 'upcoming']);
      expect(listed.code, listed.stderr).toBe(0);
      rows = listed.stdout
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map(line => line.split(/ {2,}/));
    }
    expect(rows.length).toBeGreaterThanOrEqual(4);
    for (const row of rows) {
      expect(row[1]).toBe('upcoming');
      expect(['Scheduled', 'Late']).toContain(row[2]);
    }
    const times = rows.map(row => Date.parse(row[3].replace(' ', 'T')));
    expect(times.every(Number.isFinite)).toBe(true);
    expect([...times].sort((a, b) => a - b)).toEqual(times);

    const limited = await run([
      'runs',
      '--upcoming',
      '--flow',
      'upcoming',
      '--limit',
      '2'
    ]);
    expect(limited.stdout.trim().split('\n')).toHaveLength(3);

    const clash = await run(['runs', '--upcoming', '--state', 'Completed']);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain('--state');
  });
});
