/**
 * `cellflow schedules list|pause|resume|delete`, short ids (`cellflow logs d3b1ec7a`) and the one flow
 * naming rule, as users run them: the built command against a real server child with its scheduler
 * planning real runs.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { compileNotebook } from '../../src/flow/compiler.js';

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
  paused: boolean;
  description: string;
}

interface Run {
  id: string;
  state: string;
  scheduleId?: string | null;
}

let dir: string;
let server: ServerChild;
let key: string;
let env: Record<string, string>;

const run = (args: string[]): Promise<Result> => cellflow(args, env);

async function deployGreeter(name: string, extra: string[]): Promise<string> {
  const path = join(dir, `${name}.ipynb`);
  await writeFile(
    path,
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { cellflow: { name } },
      cells: [
        {
          cell_type: 'code',
          id: 'greet-cell',
          metadata: {},
          source: '%%task greet\nprint("hello from", "greet")',
          outputs: [],
          execution_count: null
        }
      ]
    })
  );
  const deployed = await run(['deploy', path, ...extra]);
  expect(deployed.code, deployed.stderr).toBe(0);
  const { flows } = await api<{ flows: { id: string; name: string }[] }>(
    server,
    key,
    '/api/flows'
  );
  return flows.find(flow => flow.name === name)!.id;
}

const schedulesOf = async (flowId: string) =>
  (
    await api<{ schedules: Schedule[] }>(
      server,
      key,
      `/api/flows/${flowId}/schedules`
    )
  ).schedules;

const plannedRuns = async (flowId: string) =>
  (
    await api<{ runs: Run[] }>(
      server,
      key,
      `/api/runs?flowId=${flowId}&state=Scheduled&state=Late`
    )
  ).runs;

/** Waits for the scheduler, which plans on its own loop after a schedule changes. */
async function untilPlanned(flowId: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await plannedRuns(flowId)).length === 0) {
    expect(Date.now(), 'the scheduler planned no run within 20 s').toBeLessThan(
      deadline
    );
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellflow-cli-schedules-manage-'));
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

describe('cellflow schedules', () => {
  it('lists, pauses, resumes and deletes a schedule made by deploy --every, by a short id', async () => {
    // The scheduler plans a minute ahead: a 20 s interval always has planned runs to show and remove.
    const flowId = await deployGreeter('every-20s', ['--every', '20s']);
    const [schedule] = await schedulesOf(flowId);
    expect(schedule.paused).toBe(false);
    const short = schedule.id.slice(0, 8);

    const listed = await run(['schedules', 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    const row = listed.stdout
      .split('\n')
      .find(line => line.startsWith(schedule.id));
    expect(row, listed.stdout).toBeDefined();
    expect(row).toContain('every-20s');
    expect(row).toContain(schedule.description);
    expect(row).toContain('active');
    expect(listed.stdout.split('\n')[0]).toMatch(
      /^ID\s+FLOW\s+SCHEDULE\s+STATE\s+NEXT RUN\s+PARAMETERS/
    );
    await untilPlanned(flowId);

    const paused = await run(['schedules', 'pause', short]);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stderr).toContain(`Paused schedule ${schedule.id}`);
    expect((await schedulesOf(flowId))[0].paused).toBe(true);
    expect(await plannedRuns(flowId)).toEqual([]);
    const pausedList = await run(['schedules', 'list', '--flow', 'every-20s']);
    expect(pausedList.stdout).toMatch(new RegExp(`${schedule.id}.*paused`));

    const again = await run(['schedules', 'pause', short]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('already paused');

    const resumed = await run(['schedules', 'resume', short]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('next run');
    expect((await schedulesOf(flowId))[0].paused).toBe(false);
    await untilPlanned(flowId);

    const deleted = await run(['schedules', 'delete', short]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stderr).toContain(`Deleted schedule ${schedule.id}`);
    expect(await schedulesOf(flowId)).toEqual([]);
    expect(await plannedRuns(flowId)).toEqual([]);
    const empty = await run(['schedules', 'list', '--flow', 'every-20s']);
    expect(empty.stderr).toContain('has no schedules');
  });

  it('names the id at fault: unknown, not an id, or a flow that does not exist', async () => {
    const unknown = await run(['schedules', 'pause', 'ffffffff']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(
      'no schedule of this workspace has an id starting with "ffffffff"'
    );
    const bad = await run(['schedules', 'delete', 'x%']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('"x%" is not a schedule id');
    const flow = await run(['schedules', 'list', '--flow', 'nope']);
    expect(flow.code).toBe(1);
    expect(flow.stderr).toContain('no flow with the id or name "nope"');
  });
});

describe('short run ids', () => {
  it('cellflow logs takes the first 8 characters the panel shows, and names a prefix that matches none', async () => {
    const flowId = await deployGreeter('short-logs', []);
    const started = await run(['run', 'short-logs', '--watch']);
    expect(started.code, started.stderr + started.stdout).toBe(0);
    const runId = started.stdout.split('\n')[0].trim();
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    const { runs } = await api<{ runs: Run[] }>(
      server,
      key,
      `/api/runs?flowId=${flowId}&idPrefix=${runId.slice(0, 8)}`
    );
    expect(runs.map(r => r.id)).toEqual([runId]);

    const logs = await run(['logs', runId.slice(0, 8)]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('greet| hello from greet');
    const upper = await run(['logs', runId.slice(0, 8).toUpperCase()]);
    expect(upper.stdout).toContain('greet| hello from greet');

    const none = await run(['logs', '00000000-0000']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(
      'no run of this workspace has an id starting with "00000000-0000"'
    );
    const bad = await run(['logs', 'last']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('"last" is not a run id');
  });

  it('the API refuses an idPrefix that is not hex, naming the field, with a 400', async () => {
    const response = await fetch(`${server.url}/api/runs?idPrefix=a%25`, {
      headers: { authorization: `Bearer ${key}` }
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('idPrefix');
  });
});

describe('one flow name for a notebook, wherever it is deployed from', () => {
  it('the lab, compile and deploy all call Untitled.ipynb "untitled", and a second deploy is version 2', async () => {
    const notebook = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [
        {
          cell_type: 'code',
          id: 'only',
          metadata: {},
          source: '%%task only\nx = 1',
          outputs: [],
          execution_count: null
        }
      ]
    };
    const path = join(dir, 'Untitled.ipynb');
    await writeFile(path, JSON.stringify(notebook));
    // The lab compiles the notebook with its path (src/notebook/notebook-flow.ts).
    const inLab = compileNotebook(notebook, { path: 'Untitled.ipynb' });
    expect(inLab.ok && inLab.spec.name).toBe('untitled');

    const compiled = await run(['compile', path]);
    expect(compiled.code, compiled.stderr).toBe(0);
    expect(JSON.parse(compiled.stdout).name).toBe('untitled');

    const first = await run(['deploy', path]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('as flow "untitled" version 1');
    const second = await run(['deploy', path]);
    expect(second.stderr).toContain('as flow "untitled" version 2');
  });
});
