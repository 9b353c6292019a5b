/**
 * Retention on a real server (the embedded store): `--retention-runs` and `--retention-days` remove the
 * ended runs they name at start and on each sweep, keep the runs not ended, and refuse values out of
 * bounds naming the setting. (What the store removes with a run is in the store suite, on both engines.)
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { retentionSettings } from '../src/retention.js';
import { startCellflowServer, type CellflowServer } from '../src/start.js';
import type { FlowRun } from '../src/store/store.js';
import { deploy, notebook, python } from './runs-helpers.js';
import { BIN } from './support/cli-child.js';

const dirs: string[] = [];
const servers: CellflowServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map(s => s.close()));
  await Promise.all(
    dirs.splice(0).map(d => rm(d, { recursive: true, force: true }))
  );
});

async function start(
  dataDir: string,
  retention: { retentionRuns?: number; retentionDays?: number } = {}
) {
  const server = await startCellflowServer({
    dataDir,
    port: 0,
    kernelPython: python,
    warmKernels: 0,
    env: {},
    ...retention
  });
  servers.push(server);
  return server;
}

describe('retention', () => {
  it('keeps the newest runs of each flow at start, never removing a run not ended', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cellflow-retention-'));
    dirs.push(dataDir);
    const first = await start(dataDir);
    const workspace = await first.store.ensureWorkspace('team');
    const { flow } = await deploy(
      first.store,
      workspace.id,
      'etl',
      notebook(['%%task a\nprint(1)'])
    );
    const runs: FlowRun[] = [];
    for (const state of ['Completed', 'Failed', 'Cancelled'] as const) {
      let run = await first.store.createRun({
        workspaceId: workspace.id,
        flowId: flow.id,
        trigger: 'manual',
        state: 'Scheduled'
      });
      if (state !== 'Cancelled') {
        run = await first.store.transitionRun(run.id, 'Pending');
        run = await first.store.transitionRun(run.id, 'Running');
      }
      runs.push(await first.store.transitionRun(run.id, state));
    }
    // The oldest is Scheduled, far ahead: not ended, so never removed whatever its rank.
    const upcoming = await first.store.createRun({
      workspaceId: workspace.id,
      flowId: flow.id,
      trigger: 'manual',
      state: 'Scheduled'
    });
    await first.close();
    servers.splice(0);

    const second = await start(dataDir, { retentionRuns: 2 });
    expect(second.retention).not.toBeNull();
    await second.retention!.sweep();
    const left = await second.store.listRuns({ workspaceId: workspace.id });
    // Newest first: the Scheduled one and the Cancelled one are the newest two.
    expect(left.runs.map(r => r.id)).toEqual([upcoming.id, runs[2].id]);
  });

  it('removes ended runs older than the days given', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cellflow-retention-'));
    dirs.push(dataDir);
    const server = await start(dataDir, { retentionDays: 1 });
    const workspace = await server.store.ensureWorkspace('team');
    const { flow } = await deploy(
      server.store,
      workspace.id,
      'etl',
      notebook(['%%task a\nprint(1)'])
    );
    const run = await server.store.createRun({
      workspaceId: workspace.id,
      flowId: flow.id,
      trigger: 'manual',
      state: 'Scheduled'
    });
    await server.store.transitionRun(run.id, 'Cancelled');
    // Ended just now: younger than a day, kept.
    expect(await server.retention!.sweep()).toBe(0);
    expect(await server.store.getRun(workspace.id, run.id)).not.toBeNull();
    // Ended two days ago (its end moved back by hand): removed.
    await (
      server.store as unknown as { queryRows(sql: string): Promise<unknown> }
    ).queryRows(
      `UPDATE flow_runs SET ended_at = now() - interval '2 days' WHERE id = '${run.id}'`
    );
    expect(await server.retention!.sweep()).toBe(1);
    expect(await server.store.getRun(workspace.id, run.id)).toBeNull();
  });

  it('has no sweep unless asked, and refuses settings out of bounds naming them', () => {
    expect(retentionSettings({}, {})).toEqual({});
    expect(
      retentionSettings(
        {},
        { CELLFLOW_RETENTION_DAYS: '30', CELLFLOW_RETENTION_RUNS: '100' }
      )
    ).toEqual({ days: 30, runsPerFlow: 100 });
    expect(() =>
      retentionSettings({}, { CELLFLOW_RETENTION_DAYS: '0' })
    ).toThrow(
      'CELLFLOW_RETENTION_DAYS must be a whole number from 1 to 36500, got "0"'
    );
    for (const [option, value, max] of [
      ['--retention-days', '1e9', 36500],
      ['--retention-runs', '-3', 1000000],
      ['--retention-runs', '2.5', 1000000]
    ] as const) {
      let stderr = '';
      try {
        execFileSync(process.execPath, [BIN, 'server', option, value], {
          stdio: 'pipe'
        });
      } catch (err) {
        stderr = String((err as { stderr: Buffer }).stderr);
      }
      expect(stderr).toContain(
        `${option} must be a whole number from 1 to ${max}, got "${value}"`
      );
    }
  });
});
