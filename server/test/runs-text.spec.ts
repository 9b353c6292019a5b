/**
 * Text a kernel produces that PostgreSQL cannot store as it is (a NUL byte, a lone surrogate) is
 * stored with U+FFFD in its place (storableText, outputs.ts), in the log, the outputs, the attempt's
 * error, the run's error and the executed notebook, and the run ends by its own result. On the
 * embedded store (PGlite) and on PostgreSQL, through the run service and a real kernel.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { storable, storableText } from '../src/runs/outputs.js';
import { RunService } from '../src/runs/service.js';
import { openPgliteStore, openPostgresStore } from '../src/store/index.js';
import type { FlowRun, FlowRunState, Store } from '../src/store/store.js';
import { KernelLog, deploy, notebook, python } from './runs-helpers.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

describe('storableText', () => {
  it('replaces NUL and lone surrogates with U+FFFD, keeps everything else', () => {
    expect(storableText('before\u0000after')).toBe('before\uFFFDafter');
    expect(storableText('a\uD800b')).toBe('a\uFFFDb');
    expect(storableText('a\uDC00b')).toBe('a\uFFFDb');
    expect(storableText('end\uD83D')).toBe('end\uFFFD');
    // A pair is one character (😀), not two lone halves.
    expect(storableText('ok \uD83D\uDE00 \t\u0001\n')).toBe(
      'ok \uD83D\uDE00 \t\u0001\n'
    );
    const plain = 'nothing to replace';
    expect(storableText(plain)).toBe(plain);
  });

  it('reaches every string of a value, keys too, and leaves other values alone', () => {
    const when = new Date(0);
    expect(
      storable({
        text: ['a\u0000', 'b'],
        data: { 'x\u0000': 'y\uD800' },
        n: 1,
        none: null,
        when
      })
    ).toEqual({
      text: ['a\uFFFD', 'b'],
      data: { 'x\uFFFD': 'y\uFFFD' },
      n: 1,
      none: null,
      when
    });
  });
});

interface Engine {
  name: string;
  open(): Promise<Store>;
  stop(): Promise<void>;
}

const pglite: Engine = {
  name: 'pglite',
  open: () => openPgliteStore(),
  stop: async () => undefined
};

function postgres(): Engine {
  let server: TestPostgres | null = null;
  return {
    name: 'postgres',
    open: async () => {
      server = await startPostgres();
      return openPostgresStore(server.url);
    },
    stop: async () => {
      await server?.stop();
    }
  };
}

describe.each([pglite, postgres()])('kernel text on $name', engine => {
  let store: Store;
  let dataDir: string;
  let workspaceId: string;
  let service: RunService;
  const kernels = new KernelLog();
  const ends = new Map<string, (state: FlowRunState) => void>();
  const ended = new Map<string, FlowRunState>();
  let flows = 0;

  beforeAll(async () => {
    store = await engine.open();
    dataDir = await mkdtemp(join(tmpdir(), 'cellflow-text-'));
    workspaceId = (await store.ensureWorkspace('text')).id;
  }, 120_000);

  afterEach(async () => {
    await service?.close();
    await kernels.killAll();
  });

  afterAll(async () => {
    await kernels.killAll();
    await store?.close();
    await engine.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  function start(): void {
    service = new RunService({
      store,
      dataDir,
      kernelPython: python,
      recheckMs: 60_000,
      // The bug left the run Running until its lease ran out: a short lease would hide nothing here.
      warmKernels: 0,
      onKernel: kernels.add,
      onRunEnded: (run, state) => {
        ended.set(run.id, state);
        ends.get(run.id)?.(state);
      }
    });
    service.start();
  }

  function endOf(run: FlowRun): Promise<FlowRunState> {
    const known = ended.get(run.id);
    return known
      ? Promise.resolve(known)
      : new Promise(resolve => ends.set(run.id, resolve));
  }

  async function runOf(cells: string[]) {
    const { flow } = await deploy(
      store,
      workspaceId,
      `text-${++flows}`,
      notebook(cells)
    );
    return store.createRun({ workspaceId, flowId: flow.id, trigger: 'manual' });
  }

  it('a task printing a NUL byte and an undecodable byte completes; log, outputs and notebook hold U+FFFD', async () => {
    // "\udc80" leaves the kernel as the byte 0x80 (surrogateescape), which is not UTF-8: it arrives
    // as U+FFFD; a lone surrogate itself cannot cross ipykernel's wire (storableText's test has it).
    const run = await runOf([
      '%%task say\nprint("before\\x00after")\nprint("odd \\udc80 byte")\n' +
        'from IPython.display import display\n' +
        'display({"text/plain": "shown\\x00"}, raw=True)'
    ]);
    start();
    expect(await endOf(run)).toBe('Completed');

    const done = await store.getRun(workspaceId, run.id);
    expect(done?.state).toBe('Completed');
    expect(done?.stateReason ?? null).toBeNull();
    const logs = await store.listLogLines(workspaceId, run.id);
    expect(logs.map(l => l.text)).toEqual([
      'before\uFFFDafter',
      'odd \uFFFD byte'
    ]);
    const attempt = done!.taskRuns[0].attemptList[0];
    expect(attempt.outputs).toContainEqual({
      output_type: 'stream',
      name: 'stdout',
      text: 'before\uFFFDafter\nodd \uFFFD byte\n'
    });
    // In a rich output (jsonb) too.
    expect(attempt.outputs).toContainEqual(
      expect.objectContaining({
        output_type: 'display_data',
        data: { 'text/plain': 'shown\uFFFD' }
      })
    );
    const executed = (await store.getExecutedNotebook(workspaceId, run.id)) as {
      cells: { outputs: { text?: string }[] }[];
    };
    expect(executed.cells[0].outputs[0].text).toBe(
      'before\uFFFDafter\nodd \uFFFD byte\n'
    );
  });

  it('a task failing with a NUL byte in its error ends Failed, the error stored with U+FFFD', async () => {
    const run = await runOf([
      '%%task fail\nraise RuntimeError("bad\\x00value")'
    ]);
    start();
    expect(await endOf(run)).toBe('Failed');

    const done = await store.getRun(workspaceId, run.id);
    expect(done?.state).toBe('Failed');
    expect(done?.error).toContain('bad\uFFFDvalue');
    const attempt = done!.taskRuns[0].attemptList[0];
    expect(attempt.state).toBe('Failed');
    expect(attempt.errorValue).toBe('bad\uFFFDvalue');
    const logs = await store.listLogLines(workspaceId, run.id);
    expect(logs.some(l => l.text.includes('bad\uFFFDvalue'))).toBe(true);
  });
});
