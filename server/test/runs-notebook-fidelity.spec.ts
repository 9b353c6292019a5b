/**
 * The executed notebook is the notebook run, as papermill leaves it: notebooks written elsewhere
 * (nbformat 4.4 without cell ids, no %%task lines), display updates and clear_output applied as
 * nbclient applies them, and large outputs kept whole. Real ipykernels, a real (PGlite) store; each
 * executed notebook is checked with nbformat's own validator.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
    const [parameters, injected, c1, last] = codeCells(out);
    expect(parameters.outputs).toEqual([]);
    // papermill's injected cell, right after the parameters cell: the values the run used.
    expect(injected).toMatchObject({
      metadata: { tags: ['injected-parameters'] },
      source: '# Parameters\nmsg = "Hello"\n',
      outputs: [],
      execution_count: 2
    });
    expect(parameters.execution_count).toBe(1);
    expect(c1.execution_count).toBe(3);
    expect(injected).not.toHaveProperty('id');
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
    const [, injected, printed, counted] = codeCells(out);
    expect(injected.source).toBe('# Parameters\nmsg = "Hello"\n');
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

  it('runs parameters cells with code as papermill does, honours raises-exception, and records what ran in the metadata', async () => {
    const nb = notebook44([
      {
        source:
          'import os\nn = 2 * 3\nout = os.path.join("a", "b")\nlabel = "x"',
        tags: ['parameters']
      },
      { source: 'setup = n + 1' },
      { source: '%%task t\nprint(n, out, label, setup)' },
      { source: 'raise ValueError("expected")', tags: ['raises-exception'] },
      { source: 'print("after")' }
    ]);
    nb.metadata = {
      ...(nb.metadata as Json),
      cellflow: { path: '/home/someone/work/nb.ipynb' },
      widgets: { 'application/vnd.jupyter.widget-state+json': { state: {} } }
    };
    // `out` is no typed field (its line is code): a value for it is refused as unknown.
    const refused = await runNotebook(nb, { label: 'y', out: 'ignored' });
    expect(refused.state).toBe('Failed');
    expect((await store.getRun(workspaceId, refused.runId))!.error).toMatch(
      /unknown parameter "out": the flow's parameters are label/
    );

    const ran = await runNotebook(nb, { label: 'y' });
    expect(ran.state).toBe('Completed');
    const out = await executed(ran.runId);
    expect(await nbformatComplaint(out)).toBe('');
    const [parameters, injected, setup, task, raising, after] = codeCells(out);
    expect(injected.source).toBe('# Parameters\nlabel = "y"\n');
    expect(task.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: '6 a/b y 7\n' }
    ]);
    expect((raising.outputs as Json[])[0]).toMatchObject({
      output_type: 'error',
      ename: 'ValueError',
      evalue: 'expected'
    });
    expect(after.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'after\n' }
    ]);
    // Every cell that ran has its count, in order, and nbclient's timing.
    expect(
      [parameters, injected, setup, task, raising, after].map(
        c => c.execution_count
      )
    ).toEqual([1, 2, 3, 4, 5, 6]);
    for (const cell of [parameters, setup, task, raising, after]) {
      const times = (cell.metadata as Json).execution as Record<string, string>;
      expect(Object.keys(times).sort()).toEqual([
        'iopub.execute_input',
        'iopub.status.busy',
        'iopub.status.idle',
        'shell.execute_reply'
      ]);
      expect(Date.parse(times['shell.execute_reply'])).toBeGreaterThanOrEqual(
        Date.parse(times['iopub.status.busy'])
      );
    }
    const metadata = out.metadata as Json;
    expect(metadata.language_info).toMatchObject({
      name: 'python',
      version: expect.stringMatching(/^3\./)
    });
    // No stale widget models, and no path of the deploying machine.
    expect(metadata).not.toHaveProperty('widgets');
    expect(metadata.cellflow).not.toHaveProperty('path');
  });

  it('fails at once naming a kernelspec the server does not have, and runs one it has', async () => {
    const nb = notebook44([
      {
        source:
          '%%task t\nimport os, sys\nprint("ran", os.environ.get("TEAM_KERNEL"), sys.argv[-1])'
      }
    ]);
    const compiled = compileNotebook(nb);
    if (!compiled.ok) {
      throw new Error('does not compile');
    }
    const runOn = async (kernelName: string) => {
      const { flow } = await store.deployFlow({
        workspaceId,
        name: `fidelity-${++flowCount}`,
        spec: compiled.spec,
        notebook: nb,
        kernelName
      });
      const run = await store.createRun({
        workspaceId,
        flowId: flow.id,
        trigger: 'manual',
        parameters: {}
      });
      const ended = new Promise<FlowRunState>(resolve =>
        ends.set(run.id, resolve)
      );
      services[0].start();
      services[0].wake();
      return {
        state: await ended,
        run: (await store.getRun(workspaceId, run.id))!
      };
    };
    const ir = await runOn('ir');
    expect(ir.state).toBe('Failed');
    expect(ir.run.error).toBe(
      "kernel 'ir' is not installed on this server (it has: python3)"
    );
    // A kernelspec in the Jupyter path is one the server has.
    const jupyterPath = await mkdtemp(join(tmpdir(), 'cellflow-jupyter-path-'));
    await mkdir(join(jupyterPath, 'kernels', 'team-python'), {
      recursive: true
    });
    await writeFile(
      join(jupyterPath, 'kernels', 'team-python', 'kernel.json'),
      // Its own command and variables: the kernel started is this one, not the server's python3.
      JSON.stringify({
        argv: [
          python,
          '-m',
          'ipykernel_launcher',
          '-f',
          '{connection_file}',
          '--IPKernelApp.log_level=CRITICAL'
        ],
        env: { TEAM_KERNEL: 'team kernel' },
        display_name: 'Team',
        language: 'python'
      })
    );
    await mkdir(join(jupyterPath, 'kernels', 'broken'), { recursive: true });
    await writeFile(
      join(jupyterPath, 'kernels', 'broken', 'kernel.json'),
      JSON.stringify({ argv: 'python', display_name: 'Broken' })
    );
    const saved = process.env.JUPYTER_PATH;
    process.env.JUPYTER_PATH = jupyterPath;
    try {
      const team = await runOn('team-python');
      expect([team.state, team.run.error]).toEqual(['Completed', null]);
      const printed = team.run.taskRuns[0].attemptList[0].outputs as Json[];
      expect(text(printed[0].text)).toBe(
        'ran team kernel --IPKernelApp.log_level=CRITICAL\n'
      );
      const other = await runOn('julia-1.10');
      expect(other.run.error).toBe(
        "kernel 'julia-1.10' is not installed on this server (it has: broken, python3, team-python)"
      );
      const broken = await runOn('broken');
      expect(broken.state).toBe('Failed');
      expect(broken.run.error).toMatch(
        /kernel 'broken': .*kernel\.json has no argv list of strings/
      );
    } finally {
      if (saved === undefined) {
        delete process.env.JUPYTER_PATH;
      } else {
        process.env.JUPYTER_PATH = saved;
      }
      await rm(jupyterPath, { recursive: true, force: true });
    }
  });
});
