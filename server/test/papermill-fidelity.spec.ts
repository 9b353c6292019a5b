/**
 * Cellflow beside papermill (issue 21, "Must show"): every notebook of server/test/notebooks/fidelity
 * is run by Cellflow (compileNotebook + the real RunService, a PGlite store, real ipykernels) and by
 * papermill 2.7.0 (its CLI, the project's .venv) with the same parameter values. Both executed notebooks
 * must validate with nbformat, and they must be equal cell by cell (type, id, source, tags and other
 * metadata, outputs, execution counts) once volatile parts are normalised by the rules of
 * bench/fidelity-lib.mjs, each of which says why it exists there. bench/fidelity.mjs runs the same
 * notebooks through the server's CLI and tabulates the result.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  CASES,
  nbformatComplaint,
  normalise,
  papermillEnvironment,
  papermillWorkdir,
  readCase,
  runPapermill
} from '../../bench/fidelity-lib.mjs';
import { compileNotebook } from '../../src/flow/compiler.js';
import { RunService } from '../src/runs/service.js';
import { openPgliteStore } from '../src/store/index.js';
import type { FlowRunState, Store } from '../src/store/store.js';
import { KernelLog, WaitingHub, python } from './runs-helpers.js';

type Json = Record<string, unknown>;
interface PapermillRun {
  notebook: Json;
  ms: number;
  exitCode: number;
  stderr: string;
}

let store: Store;
let dataDir: string;
let workspaceId: string;
let service: RunService;
let papermillWork: { dir: string; ipythondir: string; remove: () => void };
const hub = new WaitingHub();
const kernels = new KernelLog();
const ends = new Map<string, (state: FlowRunState) => void>();
const papermillRuns = new Map<string, Promise<PapermillRun>>();

beforeAll(async () => {
  // papermill runs in the background, two at a time, while Cellflow runs the notebooks one by one:
  // each test waits for its own notebook's papermill output.
  papermillWork = papermillWorkdir();
  const queue = [...CASES];
  const slots: Promise<void>[] = [];
  const resolvers = new Map<
    string,
    {
      resolve: (run: PapermillRun) => void;
      reject: (error: unknown) => void;
    }
  >();
  for (const c of CASES) {
    const promise = new Promise<PapermillRun>((resolve, reject) =>
      resolvers.set(c.file, { resolve, reject })
    );
    promise.catch(() => undefined); // reported by the test that awaits it
    papermillRuns.set(c.file, promise);
  }
  for (let slot = 0; slot < 2; slot++) {
    slots.push(
      (async () => {
        for (let c = queue.shift(); c; c = queue.shift()) {
          const { resolve, reject } = resolvers.get(c.file)!;
          await runPapermill(c.file, c.parameters ?? {}, papermillWork).then(
            resolve,
            reject
          );
        }
      })()
    );
  }
  void Promise.all(slots);

  store = await openPgliteStore();
  dataDir = await mkdtemp(join(tmpdir(), 'cellflow-papermill-fidelity-'));
  workspaceId = (await store.ensureWorkspace('fidelity')).id;
  service = new RunService({
    store,
    hub,
    dataDir,
    kernelPython: python,
    maxConcurrentRuns: 1,
    recheckMs: 60_000,
    interruptGraceMs: 3000,
    onKernel: kernels.add,
    onRunEnded: (run, state) => ends.get(run.id)?.(state)
  });
});

afterEach(async () => {
  await kernels.killAll();
});

afterAll(async () => {
  await service?.close();
  await kernels.killAll();
  await store?.close();
  await rm(dataDir, { recursive: true, force: true });
  // Every papermill run has ended (or failed) before its folder goes.
  await Promise.allSettled(papermillRuns.values());
  papermillWork?.remove();
});

/** The notebook through Cellflow: compiled, deployed, run with `parameters`; its executed notebook. */
async function runCellflow(
  file: string,
  notebook: Json,
  parameters: Record<string, unknown>
): Promise<{ state: FlowRunState; executed: Json }> {
  const compiled = compileNotebook(notebook, { path: file });
  if (!compiled.ok) {
    throw new Error(
      `${file} does not compile: ${compiled.problems.map(p => p.message).join('; ')}`
    );
  }
  const { flow } = await store.deployFlow({
    workspaceId,
    name: compiled.spec.name,
    spec: compiled.spec,
    notebook,
    kernelName: 'python3'
  });
  const run = await store.createRun({
    workspaceId,
    flowId: flow.id,
    trigger: 'manual',
    parameters
  });
  const ended = new Promise<FlowRunState>(resolve => ends.set(run.id, resolve));
  service.start();
  service.wake();
  const state = await ended;
  const executed = await hub.until('the executed notebook', () =>
    store.getExecutedNotebook(workspaceId, run.id)
  );
  return { state, executed: executed as Json };
}

describe('executed notebooks equal papermill 2.7.0 output (issue 21)', () => {
  it(
    'compares with papermill 2.7.0 from .venv, without black (it would reformat the injected cell)',
    { timeout: 60_000 },
    async () => {
      expect(await papermillEnvironment()).toEqual({
        papermill: '2.7.0',
        black: false
      });
    }
  );

  for (const c of CASES) {
    it(`${c.file}: ${c.covers}`, { timeout: 180_000 }, async () => {
      const source = readCase(c.file);
      const parameters = c.parameters ?? {};
      const papermill = papermillRuns.get(c.file)!;
      const cellflow = await runCellflow(c.file, source, parameters);
      const pm = await papermill;

      // Both are valid nbformat, as written.
      expect(await nbformatComplaint(pm.notebook), 'papermill output').toBe('');
      expect(await nbformatComplaint(cellflow.executed), 'Cellflow').toBe('');

      const ours = normalise(cellflow.executed, source);
      const theirs = normalise(pm.notebook, source);
      // One comparison of the whole notebook, so a failure prints every difference at once
      // (expected: papermill, received: Cellflow). `notes` only say what was set aside.
      const { notes: _ours, ...oursCompared } = ours;
      const { notes: _theirs, ...theirsCompared } = theirs;
      expect(
        oursCompared,
        `${c.file} (issue 21 points ${c.points.join(', ')}), Cellflow run ${cellflow.state}`
      ).toEqual(theirsCompared);
    });
  }
});
