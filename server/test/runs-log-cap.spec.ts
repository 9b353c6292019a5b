/**
 * A task that prints without end does not fill the store: its attempt's log is kept up to the cap
 * (2 MB), one line says the rest was not kept, and a line of over 64 K characters is cut, saying how
 * much. On a real kernel and a real (in-memory PGlite) store.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import {
  DEFAULT_LOG_CAP_BYTES,
  MAX_LOG_LINE_CHARS
} from '../src/runs/recorder.js';
import { RunService } from '../src/runs/service.js';
import { openPgliteStore } from '../src/store/index.js';
import type { Store } from '../src/store/store.js';
import {
  KernelLog,
  WaitingHub,
  deploy,
  notebook,
  python
} from './runs-helpers.js';

let store: Store;
let dataDir: string;
let service: RunService;
const hub = new WaitingHub();
const kernels = new KernelLog();

beforeAll(async () => {
  store = await openPgliteStore();
  dataDir = await mkdtemp(join(tmpdir(), 'cellflow-log-cap-'));
});

afterAll(async () => {
  await service?.close();
  await kernels.killAll();
  await store?.close();
  await rm(dataDir, { recursive: true, force: true });
});

it('keeps an attempt log up to its cap, says where it was cut, and cuts over-long lines', async () => {
  const ws = await store.ensureWorkspace('log-cap');
  const { flow } = await deploy(
    store,
    ws.id,
    'talker',
    notebook([
      `%%task talk\nprint("y" * ${MAX_LOG_LINE_CHARS + 500})\nfor i in range(3000):\n    print("x" * 1000)\nprint("the end")`
    ])
  );
  const run = await store.createRun({
    workspaceId: ws.id,
    flowId: flow.id,
    trigger: 'manual'
  });
  service = new RunService({
    store,
    hub,
    dataDir,
    kernelPython: python,
    warmKernels: 0,
    recheckMs: 60_000,
    onKernel: kernels.add
  });
  service.start();
  const done = await hub.until(
    'the run to end',
    async () => {
      const now = await store.getRunById(run.id);
      return now && ['Completed', 'Failed', 'Crashed'].includes(now.state)
        ? now
        : null;
    },
    60_000
  );
  expect(done.state).toBe('Completed');
  const lines = await store.listLogLines(ws.id, run.id, { limit: 5000 });
  const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l.text), 0);
  expect(bytes).toBeLessThanOrEqual(DEFAULT_LOG_CAP_BYTES + 200);
  expect(bytes).toBeGreaterThan(DEFAULT_LOG_CAP_BYTES - 2000);
  expect(lines[0].text).toBe(
    `${'y'.repeat(MAX_LOG_LINE_CHARS)} … [500 more characters not kept]`
  );
  expect(lines.at(-1)!.text).toBe(
    '[cellflow] the log of this attempt passed 2048 KB: the rest of it is not kept'
  );
  expect(lines.map(l => l.text)).not.toContain('the end');
}, 90_000);
