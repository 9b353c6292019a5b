/**
 * A full disk under the embedded store: the writes that would grow it are refused with a clear "disk
 * full" error before PGlite meets ENOSPC (which made it spin for good), the run that could not write
 * ends Crashed with that reason, the API answers 507 while /api/health keeps answering, the server
 * stops when asked, and everything works again once space is back. On a real, small tmpfs (root only).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  DiskFullError,
  DiskGuard,
  guardDiskSpace
} from '../src/store/disk-guard.js';
import { openPgliteStore } from '../src/store/index.js';
import { startCellflowServer, type CellflowServer } from '../src/start.js';
import { notebook, python } from './runs-helpers.js';
import { apiRequest } from './support/http.js';

const MB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
let mountPoint: string | null = null;
const servers: CellflowServer[] = [];

afterAll(async () => {
  await Promise.all(servers.map(s => s.close()));
  if (mountPoint) {
    execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  }
});

describe('DiskGuard', () => {
  it('refuses the writes that grow the store while less than the reserve is free, and lets them by again', async () => {
    const store = await openPgliteStore();
    let free = 10 * MB;
    const guarded = guardDiskSpace(
      store,
      new DiskGuard({
        dataDir: '/data',
        reserveBytes: 48 * MB,
        maxAgeMs: 0,
        freeBytes: () => free
      })
    );
    try {
      const ws = await guarded.ensureWorkspace('disk'); // small writes go through
      await expect(
        guarded.deployFlow({
          workspaceId: ws.id,
          name: 'f',
          notebook: {},
          spec: {} as never,
          kernelName: 'python3'
        } as never)
      ).rejects.toThrow(DiskFullError);
      await expect(
        guarded.appendLogLines([
          { flowRunId: 'x', stream: 'stdout', text: 'y' } as never
        ])
      ).rejects.toThrow(/disk full: 10\.0 MB free .* below the 48\.0 MB/);
      free = 100 * MB;
      expect(await guarded.listFlows(ws.id)).toEqual([]);
      await expect(guarded.appendLogLines([])).resolves.toBeDefined();
    } finally {
      await store.close();
    }
  });
});

describe.runIf(isRoot)('the embedded store on a full disk', () => {
  it('fails what does not fit with "disk full", stays responsive, and goes on once space is back', async () => {
    mountPoint = mkdtempSync('/var/tmp/cellflow-disk-');
    execFileSync('mount', [
      '-t',
      'tmpfs',
      '-o',
      'size=128m',
      'tmpfs',
      mountPoint
    ]);
    const dataDir = join(mountPoint, 'data');
    const server = await startCellflowServer({
      dataDir,
      port: 0,
      kernelPython: python,
      warmKernels: 0,
      env: {},
      onNotice: () => undefined
    });
    servers.push(server);
    const ws = await server.store.ensureWorkspace('disk');
    const key = (await server.store.createApiKey(ws.id, 'disk')).secret;
    const api = (method: string, path: string, body?: unknown) =>
      apiRequest(server.address, key, method, path, body);

    const deployed = await api('POST', '/api/flows', {
      name: 'talker',
      notebook: notebook([
        '%%task talk\nimport os, time\nwhile not os.path.exists("go"):\n    time.sleep(0.02)\nfor i in range(200):\n    print("line", i, "x" * 1000, flush=True)'
      ])
    });
    expect(deployed.status).toBe(201);
    const flowId: string = deployed.body.flow.id;
    const started = await api('POST', `/api/flows/${flowId}/runs`, {});
    expect(started.status).toBe(201);
    const runId: string = started.body.run.id;
    const flowDir = join(dataDir, 'flows', flowId);
    await waitFor('the run to be Running', async () => {
      const run = await api('GET', `/api/runs/${runId}`);
      return run.body.run.state === 'Running';
    });

    // Fill the disk to within 20 MB of full, below the 48 MB reserve.
    const stat = statfsSync(mountPoint);
    const free = Number(stat.bavail) * Number(stat.bsize);
    const ballast = join(mountPoint, 'ballast');
    await writeFile(ballast, Buffer.alloc(free - 20 * MB));
    await mkdir(flowDir, { recursive: true });
    await writeFile(join(flowDir, 'go'), '');

    const ended = await waitFor('the run to end', async () => {
      const run = await api('GET', `/api/runs/${runId}`);
      return ['Completed', 'Failed', 'Crashed'].includes(run.body.run.state)
        ? run.body.run
        : null;
    });
    expect(ended.state).toBe('Crashed');
    expect(`${ended.stateReason} ${ended.error}`).toMatch(/disk full/);
    const tasks = (await api('GET', `/api/runs/${runId}`)).body.run.taskRuns;
    expect(tasks.map((t: { state: string }) => t.state)).not.toContain(
      'Running'
    );

    // The API says so, and the server answers meanwhile.
    const refused = await api('POST', `/api/flows/${flowId}/runs`, {});
    expect(refused.status).toBe(507);
    expect(refused.body).toMatchObject({ error: 'insufficient-storage' });
    expect(refused.body.message).toMatch(/disk full/);
    const t0 = Date.now();
    const health = await fetch(`${server.address}/api/health`);
    expect(health.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(2000);

    // Space back: the next run goes through to the end.
    await rm(ballast);
    const again = await api('POST', `/api/flows/${flowId}/runs`, {});
    expect(again.status).toBe(201);
    const second = await waitFor('the second run to end', async () => {
      const run = await api('GET', `/api/runs/${again.body.run.id}`);
      return ['Completed', 'Failed', 'Crashed'].includes(run.body.run.state)
        ? run.body.run
        : null;
    });
    expect(second.state).toBe('Completed');

    // It stops when asked, and the store opens again.
    await server.close();
    const reopened = await startCellflowServer({
      dataDir,
      port: 0,
      kernelPython: python,
      warmKernels: 0,
      env: {},
      onNotice: () => undefined
    });
    servers.push(reopened);
    expect((await reopened.store.listFlows(ws.id)).map(f => f.name)).toEqual([
      'talker'
    ]);
  }, 120_000);
});

/** Asks until the answer is truthy: each try is one API request, bounded in time. */
async function waitFor<T>(
  what: string,
  check: () => Promise<T | null | false>
): Promise<T> {
  const until = Date.now() + 60_000;
  for (;;) {
    const value = await check();
    if (value) {
      return value;
    }
    if (Date.now() > until) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise(r => setTimeout(r, 100));
  }
}
