/**
 * The executed notebook is the notebook run, as papermill leaves it: notebooks written elsewhere
 * (nbformat 4.4 without cell ids, no %%task lines), display updates and clear_output applied as
 * nbclient applies them, and large outputs kept whole. Real ipykernels, a real (PGlite) store; each
 * executed notebook is checked with nbformat's own validator.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { compileNotebook } from '../../src/flow/compiler.js';
import { RunService } from '../src/runs/service.js';
import { openPgliteStore } from '../src/store/index.js';
import type { FlowRunState, Store } from '../src/store/store.js';
import { KernelLog, WaitingHub, python } from './runs-helpers.js';

let store: Store;
let dataDir: string;
let workspaceId: string;
const hub = new WaitingHub();
const kernels = new KernelLog();
const services: RunService[] = [];
const ends = new Map<string, (state: FlowRunState) => void>();

beforeAll(async () => {
  store = await openPgliteStore();
  dataDir = await mkdtemp(join(tmpdir(), 'cellflow-fidelity-'));
  workspaceId = (await store.ensureWorkspace('fidelity')).id;
  services.push(
    new RunService({
      store,
      hub,
      dataDir,
      kernelPython: python,
      maxConcurrentRuns: 2,
      recheckMs: 60_000,
      interruptGraceMs: 3000,
      onKernel: kernels.add,
      onRunEnded: (run, state) => ends.get(run.id)?.(state)
    })
  );
});

afterEach(async () => {
  await kernels.killAll();
});

afterAll(async () => {
  await Promise.all(services.splice(0).map(s => s.close()));
  await kernels.killAll();
  await store?.close();
  await rm(dataDir, { recursive: true, force: true });
});

type Json = Record<string, unknown>;

/** An nbformat 4.4 notebook: no cell ids, sources as lists of lines, as Jupyter saved them then. */
function notebook44(cells: { source: string; tags?: string[] }[]): Json {
  return {
    nbformat: 4,
    nbformat_minor: 4,
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3',
        language: 'python'
      },
      language_info: { name: 'python' }
    },
    cells: [
      { cell_type: 'markdown', metadata: {}, source: ['# A notebook\n'] },
      ...cells.map(c => ({
        cell_type: 'code',
        metadata: c.tags ? { tags: c.tags } : {},
        source: c.source.split(/(?<=\n)/),
        outputs: [],
        execution_count: null
      }))
    ]
  };
}

let flowCount = 0;
async function runNotebook(
  nb: Json,
  parameters: Record<string, unknown> = {}
): Promise<{ runId: string; state: FlowRunState }> {
  const compiled = compileNotebook(nb);
  if (!compiled.ok) {
    throw new Error(`does not compile: ${JSON.stringify(compiled.problems)}`);
  }
  const { flow } = await store.deployFlow({
    workspaceId,
    name: `fidelity-${++flowCount}`,
    spec: compiled.spec,
    notebook: nb,
    kernelName: 'python3'
  });
  const run = await store.createRun({
    workspaceId,
    flowId: flow.id,
    trigger: 'manual',
    parameters
  });
  const ended = new Promise<FlowRunState>(resolve => ends.set(run.id, resolve));
  services[0].start();
  services[0].wake();
  return { runId: run.id, state: await ended };
}

async function executed(runId: string): Promise<Json> {
  const nb = await hub.until('the executed notebook', () =>
    store.getExecutedNotebook(workspaceId, runId)
  );
  return nb as Json;
}

function codeCells(nb: Json): Json[] {
  return (nb.cells as Json[]).filter(c => c.cell_type === 'code');
}

function text(value: unknown): string {
  return Array.isArray(value) ? value.join('') : String(value ?? '');
}

/** nbformat.validate on the notebook; resolves with its complaint, '' when valid. */
function nbformatComplaint(nb: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      python,
      [
        '-c',
        'import nbformat,sys; nbformat.validate(nbformat.reads(sys.stdin.read(), 4))'
      ],
      { maxBuffer: 64 * 1024 * 1024 },
      (error, _stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve(error ? stderr.split('\n').slice(-3).join('\n') : '');
      }
    );
    child.stdin!.end(JSON.stringify(nb));
  });
}

describe('the executed notebook of notebooks written elsewhere', () => {
  it("fills every cell of an nbformat 4.4 notebook (no cell ids): papermill's simple_execute", async () => {
    const nb = notebook44([
      { source: 'msg = None', tags: ['parameters'] },
      { source: '%%task c1\nprint(msg)' },
      { source: 'n = 40 + 2\nn' }
    ]);
    const { runId, state } = await runNotebook(nb, { msg: 'Hello' });
    expect(state).toBe('Completed');
    const out = await executed(runId);
    expect(out.nbformat_minor).toBe(4);
    const [parameters, c1, last] = codeCells(out);
    expect(parameters.outputs).toEqual([]);
    expect(c1.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'Hello\n' }
    ]);
    expect(typeof c1.execution_count).toBe('number');
    expect((last.outputs as Json[])[0]).toMatchObject({
      output_type: 'execute_result',
      data: { 'text/plain': '42' }
    });
    // The cells are left as they were: no ids added to a 4.4 notebook (its schema has none).
    expect(c1).not.toHaveProperty('id');
    expect(await nbformatComplaint(out)).toBe('');
  });

  it('keeps a 400 KB print and a 3 MB PNG whole, in the attempt and in the executed notebook', async () => {
    const nb = notebook44([
      { source: '%%task big\nprint("x" * 400_000)' },
      {
        source:
          '%%task plot\n' +
          'import base64, os\n' +
          'from IPython.display import display\n' +
          'png = base64.b64encode(b"\\x89PNG\\r\\n\\x1a\\n" + os.urandom(3_000_000)).decode()\n' +
          'display({"image/png": png, "text/plain": "<Figure>"}, raw=True)\n' +
          'print(len(png))'
      }
    ]);
    const { runId, state } = await runNotebook(nb);
    expect(state).toBe('Completed');
    const run = await store.getRun(workspaceId, runId);
    const attempt = (name: string) =>
      run!.taskRuns.find(t => t.taskName === name)!.attemptList[0];
    expect(attempt('big').outputsTruncated).toBe(false);
    expect(text((attempt('big').outputs[0] as Json).text)).toBe(
      'x'.repeat(400_000) + '\n'
    );
    const plot = attempt('plot').outputs as Json[];
    expect(attempt('plot').outputsTruncated).toBe(false);
    const length = Number(text(plot[1].text));
    expect(length).toBeGreaterThan(4_000_000);
    expect(text((plot[0].data as Json)['image/png'])).toHaveLength(length);

    const out = await executed(runId);
    const [big, plotCell] = codeCells(out);
    expect(text((big.outputs as Json[])[0].text)).toHaveLength(400_001);
    expect(plotCell.outputs).toEqual(plot);
    expect(await nbformatComplaint(out)).toBe('');
  });

  it('applies display updates and clear_output as nbclient does: the executed notebook validates', async () => {
    const nb = notebook44([
      {
        source:
          '%%task shown\n' +
          'from IPython.display import display, clear_output\n' +
          'h = display("a", display_id=True)\n' +
          'h.update("b")'
      },
      {
        source:
          '%%task counted\n' +
          'for i in range(10):\n' +
          '    clear_output(wait=True)\n' +
          '    print(i)'
      },
      { source: '%%task later\nh.update("c")\nprint("done")' }
    ]);
    const { runId, state } = await runNotebook(nb);
    expect(state).toBe('Completed');
    const out = await executed(runId);
    expect(await nbformatComplaint(out)).toBe('');
    const [shown, counted, later] = codeCells(out);
    // The display shows its last value, updated from a later cell too (display ids span the run).
    expect(shown.outputs).toEqual([
      {
        output_type: 'display_data',
        data: { 'text/plain': "'c'" },
        metadata: {}
      }
    ]);
    expect(counted.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: '9\n' }
    ]);
    expect(later.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'done\n' }
    ]);
    // The attempts' stored outputs: the same, as each attempt ended.
    const run = await store.getRun(workspaceId, runId);
    const stored = (name: string) =>
      run!.taskRuns.find(t => t.taskName === name)!.attemptList[0].outputs;
    expect(stored('shown')).toEqual([
      {
        output_type: 'display_data',
        data: { 'text/plain': "'b'" },
        metadata: {}
      }
    ]);
    expect(stored('counted')).toEqual(counted.outputs);
  });

  it('runs a notebook without %%task cells as one task: every cell in order, parameters injected, retried whole', async () => {
    const nb = notebook44([
      { source: 'msg = None', tags: ['parameters'] },
      { source: 'print(msg)' },
      {
        source:
          'import os\n' +
          'tries = globals().get("tries", 0) + 1\n' +
          'if tries < 2:\n' +
          '    raise ValueError("first try")\n' +
          'tries'
      }
    ]);
    const compiled = compileNotebook(nb);
    expect(compiled.ok && compiled.warnings.map(w => w.message)).toEqual([
      'no %%task cells: the notebook runs as one task'
    ]);
    if (compiled.ok) {
      compiled.spec.tasks[0].retries = 1;
    }
    const { flow } = await store.deployFlow({
      workspaceId,
      name: `fidelity-${++flowCount}`,
      spec: (compiled as { spec: never }).spec,
      notebook: nb,
      kernelName: 'python3'
    });
    const created = await store.createRun({
      workspaceId,
      flowId: flow.id,
      trigger: 'manual',
      parameters: { msg: 'Hello' }
    });
    const ended = new Promise<FlowRunState>(resolve =>
      ends.set(created.id, resolve)
    );
    services[0].start();
    services[0].wake();
    expect(await ended).toBe('Completed');
    const run = await store.getRun(workspaceId, created.id);
    const whole = run!.taskRuns.find(t => t.taskName === 'notebook')!;
    expect(whole.attemptList.map(a => a.state)).toEqual([
      'Failed',
      'Completed'
    ]);
    expect(whole.attemptList[1].outputs).toMatchObject([
      { output_type: 'stream', text: 'Hello\n' },
      { output_type: 'execute_result', data: { 'text/plain': '2' } }
    ]);
    const out = await executed(created.id);
    expect(await nbformatComplaint(out)).toBe('');
    const [, printed, counted] = codeCells(out);
    expect(printed.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'Hello\n' }
    ]);
    expect(counted.outputs).toMatchObject([
      { output_type: 'execute_result', data: { 'text/plain': '2' } }
    ]);
    expect(typeof printed.execution_count).toBe('number');
    expect(counted.execution_count).toBe(
      (printed.execution_count as number) + 1
    );
  });
});
