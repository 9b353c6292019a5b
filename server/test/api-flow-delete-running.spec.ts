/**
 * Deleting a flow while one of its runs executes here: the run is cancelled and its end written first,
 * then the flow goes with its runs; nothing logs "could not end run … not found". Over the API, a real
 * run service and a real kernel.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { RunService } from '../src/runs/service.js';
import type { FlowRunState } from '../src/store/store.js';
import {
  newTenant,
  openTestStore,
  testApp,
  type TestStore
} from './support/api-fixture.js';
import {
  KernelLog,
  WaitingHub,
  deploy,
  notebook,
  python
} from './runs-helpers.js';

let db: TestStore;
let dataDir: string;
const kernels = new KernelLog();

beforeAll(async () => {
  db = await openTestStore();
  dataDir = await mkdtemp(join(tmpdir(), 'cellflow-delete-'));
});

afterAll(async () => {
  await kernels.killAll();
  await db?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('DELETE /api/flows/:flowId with a run executing', () => {
  it('cancels the run and waits for its end before deleting: no write to a deleted run', async () => {
    const { store } = db;
    const tenant = await newTenant(store, 'delete');
    const hub = new WaitingHub();
    const ended = new Map<string, FlowRunState>();
    const service = new RunService({
      store,
      hub,
      dataDir,
      kernelPython: python,
      recheckMs: 60_000,
      interruptGraceMs: 3000,
      warmKernels: 0,
      onKernel: kernels.add,
      onRunEnded: (run, state) => ended.set(run.id, state)
    });
    const { app } = await testApp(store, { runs: service });
    const errors = vi.spyOn(console, 'error');
    try {
      const { flow } = await deploy(
        store,
        tenant.workspace.id,
        'waits',
        notebook([
          '%%task wait\nimport time\nprint("waiting", flush=True)\nwhile True:\n    time.sleep(0.02)'
        ])
      );
      const run = await store.createRun({
        workspaceId: tenant.workspace.id,
        flowId: flow.id,
        trigger: 'manual'
      });
      service.start();
      await hub.until('the task to run', async () =>
        (await store.listLogLines(tenant.workspace.id, run.id)).some(
          l => l.text === 'waiting'
        )
      );

      const answer = await app.inject({
        method: 'DELETE',
        url: `/api/flows/${flow.id}`,
        headers: tenant.headers
      });
      expect(answer.statusCode).toBe(204);
      // Ended (Cancelled, its kernel stopped) before the answer came.
      expect(ended.get(run.id)).toBe('Cancelled');
      expect(kernels.kernels[0].dead).toBe(true);
      expect(await store.getRunById(run.id)).toBeNull();
      expect(await store.getFlow(tenant.workspace.id, flow.id)).toBeNull();
      await service.close();
      const logged = errors.mock.calls.map(args => args.map(String).join(' '));
      expect(logged.filter(line => line.includes(run.id))).toEqual([]);
    } finally {
      errors.mockRestore();
      await service.close();
      await app.close();
    }
  });
});
