/**
 * One claimed run, from its task runs to its end state: start a kernel, run the flow with the one run
 * loop (runFlow), record everything it reports, keep the executed notebook, end the run, stop the kernel.
 *
 * Retry in the same kernel: a retry whose retried run's kernel is still kept (takeKeptKernel) runs in
 * that kernel from the failed task on, the completed tasks kept (runFlow's resume). A run that ends
 * Failed offers its kernel to keepKernel instead of stopping it, when the kernel is fit to continue in:
 * alive, responsive, and the failure came from a task or its setup (not the parameters, whose state
 * would have to be rebuilt anyway, nor the teardown, which runs only after every task completed).
 * Crashed runs (dead or unresponsive kernel, store failure, server stopping) and Cancelled runs never
 * keep theirs: a cancel is a deliberate stop, often of a run that hangs, and its kernel was interrupted
 * at an arbitrary point.
 */
import {
  acceptsUndeclaredParameters,
  validateParameterValues
} from '../../../src/flow/parameters.js';
import {
  runFlow,
  type ResumeFrom,
  type RunResult
} from '../../../src/flow/runner.js';
import type { FlowSpec } from '../../../src/flow/spec.js';
import { parseElementTaskName } from '../../../src/flow/mapping-options.js';
import type { RunKernel } from '../executor/index.js';
import {
  TransitionConflictError,
  describeStoreError,
  isStoreUnavailable
} from '../store/errors.js';
import type {
  FlowRun,
  FlowRunDetail,
  FlowRunState,
  Store
} from '../store/store.js';
import type { KeptKernel } from './kept-kernels.js';
import type { KernelProvider } from './kernel-provider.js';
import { makeMasker, type Masker } from './mask.js';
import {
  KernelspecNotInstalledError,
  type Kernelspec
} from '../executor/kernelspecs.js';
import { buildExecutedNotebook } from './notebook.js';
import { storable, storableText } from './outputs.js';
import { CellOutputs, RunRecorder, type Notifier } from './recorder.js';
import {
  keptReasons,
  replayReasons,
  retryOfFromEvents,
  sameParameterValues,
  splitRunParameters
} from './retry.js';
import { runCacheOptions } from './task-cache-store.js';
import { kernelWorkdir } from './workdir.js';

export interface RunExecutionOptions {
  store: Store;
  hub?: Notifier;
  run: FlowRun;
  dataDir: string;
  rootDir?: string;
  /** Starts the run's kernel: its environment, warm kernels; local and sandboxed, or a gateway's. */
  kernels: KernelProvider;
  outputCapBytes?: number;
  /** How long a kernel gets to stop after an interrupt before it is given up on (runFlow's option). */
  interruptGraceMs?: number;
  /** Called with the kernel's pid once it runs (tests, diagnostics). */
  onKernel?: (kernel: RunKernel) => void;
  /** Hands over the kept kernel of the run with this id, if any (it is then this run's to stop). */
  takeKeptKernel?: (runId: string) => KeptKernel | null;
  /** Offered the kernel of a run that ended Failed; true when it took it (it is then not stopped here). */
  keepKernel?: (kept: KeptKernel) => boolean;
  /** How long the end write is retried while the database is unreachable (default 60 s). */
  endRetryMs?: number;
  /** What a workspace's cached task results may take in all (task-cache-store.ts). */
  taskCacheBytes?: number;
}

export const DEFAULT_END_RETRY_MS = 60_000;

interface RunEnd {
  state: FlowRunState;
  reason?: string | null;
  error?: string | null;
}

export class RunExecution {
  private readonly abort = new AbortController();
  /** Why the run was stopped from outside: a user's cancel, or the server stopping. */
  private stop: { reason: string; as: 'Cancelled' | 'Crashed' } | null = null;
  /** Whether this execution wrote the run's end (not another process, such as a lease sweep). */
  endWritten = false;
  private storeFailure: unknown = null;
  /** The run's recorder, once its task runs exist: the end's retries close the tasks it left open. */
  private recorder: RunRecorder | null = null;
  /** The kernel of a run that may end Failed, held until the end state is known (keepKernel). */
  private held: KeptKernel | null = null;

  constructor(private readonly options: RunExecutionOptions) {}

  get runId(): string {
    return this.options.run.id;
  }

  /** Stops the run: Cancelled for a user's cancel, Crashed when the server stops or loses the lease. */
  interrupt(reason: string, as: 'Cancelled' | 'Crashed' = 'Cancelled'): void {
    this.stop ??= { reason, as };
    this.abort.abort();
  }

  /** Never rejects: every failure ends in the run's state (or, when the store itself fails, is logged). */
  async execute(): Promise<FlowRunState> {
    let end: RunEnd;
    try {
      end = await this.executeInner();
    } catch (error) {
      end = {
        state: 'Crashed',
        reason: 'the run service failed while running the run',
        error: describeStoreError(error)
      };
    }
    // Before the Failed state is written: a retry created once the run shows Failed finds the kernel.
    await this.releaseKernel(end);
    return this.writeEnd(end);
  }

  /**
   * Writes the run's end. While the database is unreachable (restarting, a network cut) the write is
   * retried with backoff for up to endRetryMs, so the run does not stay Running until its lease runs out;
   * the task runs a failed store write left open are ended again on each try.
   */
  private async writeEnd(end: RunEnd): Promise<FlowRunState> {
    const { store, run } = this.options;
    const deadline =
      Date.now() + (this.options.endRetryMs ?? DEFAULT_END_RETRY_MS);
    let delay = 200;
    for (let attempt = 0; ; attempt++) {
      try {
        if (attempt > 0) {
          await this.recorder?.closeOpenTasks(
            end.reason ?? 'the run ended before this task did'
          );
        }
        const ended = await store.transitionRun(run.id, end.state, {
          from: 'Running',
          reason: storableText(end.reason ?? null),
          error: storableText(end.error ?? null)
        });
        this.endWritten = true;
        this.notify();
        return ended.state;
      } catch (error) {
        if (
          attempt > 0 &&
          error instanceof TransitionConflictError &&
          error.actual === end.state
        ) {
          // An earlier try was committed, its answer lost with the connection.
          this.endWritten = true;
          this.notify();
          return end.state;
        }
        if (isStoreUnavailable(error) && Date.now() + delay <= deadline) {
          if (attempt === 0) {
            console.warn(
              `Cellflow: could not end run ${run.id} as ${end.state} (${describeStoreError(error)}): retrying until the database is back`
            );
          }
          await new Promise(resolve => setTimeout(resolve, delay));
          delay = Math.min(delay * 2, 5000);
          continue;
        }
        console.error(
          `Cellflow: could not end run ${run.id} as ${end.state}: ${describeStoreError(error)}`
        );
        return end.state;
      }
    }
  }

  private async executeInner(): Promise<RunEnd> {
    const { store, run } = this.options;
    const version = await store.getFlowVersion(
      run.workspaceId,
      run.flowId,
      run.flowVersion
    );
    if (!version) {
      return {
        state: 'Crashed',
        reason: `flow version ${run.flowVersion} of flow ${run.flowId} no longer exists`
      };
    }
    const spec = version.spec as FlowSpec;
    const taskRuns = await store.createTaskRuns(
      run.id,
      spec.tasks.map(t => t.name)
    );
    this.notify();

    const parameters = splitRunParameters(run.parameters, spec);
    let original: FlowRunDetail | null = null;
    if (run.trigger === 'retry') {
      const retryOf =
        parameters.retryOf ?? (await retryOfFromEvents(store, run));
      if (retryOf) {
        original = await store.getRun(run.workspaceId, retryOf);
      }
    }
    const checked = validateParameterValues(
      spec.parameters,
      parameters.values,
      { acceptUndeclared: acceptsUndeclaredParameters(spec) }
    );
    const stoppedEarly = this.abort.signal.aborted && this.stop !== null;
    // Taken only by a run that is going to start: a kept kernel is shut down once taken.
    const kept =
      checked.ok && !stoppedEarly && original
        ? await this.takeKeptKernel(original, run, checked.values)
        : null;
    const recorder = (this.recorder = new RunRecorder({
      store,
      hub: this.options.hub,
      run,
      taskRuns,
      replayReasons: kept ? undefined : replayReasons(original, spec),
      outputCapBytes: this.options.outputCapBytes,
      onFailure: error => {
        this.storeFailure ??= error;
        this.abort.abort();
      }
    }));

    if (!checked.ok) {
      const error = `invalid parameters: ${checked.errors.join('; ')}`;
      await recorder.closeOpenTasks(
        'the run did not start: its parameters are invalid'
      );
      return { state: 'Failed', reason: 'invalid parameters', error };
    }

    // The flow's kernelspec: one this server does not have fails the run now, naming it, rather than
    // running its code on another kernel.
    let kernelspec: Kernelspec | null = null;
    if (!kept) {
      try {
        kernelspec = await this.options.kernels.kernelspec(version.kernelName);
      } catch (error) {
        await recorder.closeOpenTasks(
          `the run did not start: kernel '${version.kernelName}' cannot be started here`
        );
        return {
          state: 'Failed',
          reason:
            error instanceof KernelspecNotInstalledError
              ? 'kernel not installed'
              : 'kernelspec unusable',
          error: message(error)
        };
      }
    }

    if (stoppedEarly && this.stop) {
      // Stopped while it was being set up: no kernel to start for nothing.
      await recorder.closeOpenTasks(this.stop.reason);
      return { state: this.stop.as, reason: this.stop.reason };
    }
    let kernel: RunKernel;
    // The workspace's secrets are in its kernels' environment: whatever the run reports is masked.
    let mask: Masker;
    try {
      const cwd = await kernelWorkdir({
        rootDir: this.options.rootDir,
        dataDir: this.options.dataDir,
        flowId: run.flowId,
        notebook: version.notebook
      });
      const profile = await this.options.kernels.profile(
        run.workspaceId,
        cwd,
        kernelspec
      );
      // And made storable (outputs.ts): a NUL or a lone surrogate must not fail the store's writes.
      const masker = makeMasker(Object.values(profile.env));
      mask = value => storable(masker(value));
      kernel = kept ? kept.kernel : await this.options.kernels.start(profile);
    } catch (error) {
      await recorder.closeOpenTasks('the kernel did not start');
      return {
        state: 'Crashed',
        reason: `the kernel (${version.kernelName}) did not start`,
        error: message(error)
      };
    }
    this.options.onKernel?.(kernel);

    const cells = new CellOutputs(this.options.outputCapBytes);
    let resume: ResumeFrom | undefined;
    if (kept) {
      resume = {
        completed: keptReasons(kept.runId, kept.completed),
        setupCellsDone: new Set(kept.setupCellsDone)
      };
      seedKeptOutputs(cells, kept, spec);
    }
    let result: RunResult | null = null;
    try {
      const cache = await runCacheOptions(
        store,
        run,
        spec,
        this.options.taskCacheBytes,
        mask
      );
      const unmasked = await runFlow(spec, kernel, {
        cache,
        // The values the parameters cell does not set itself run as a cell of their own, so the
        // executed notebook shows them as papermill's injected-parameters cell.
        parameters: checked.values,
        injectionVisible: true,
        signal: this.abort.signal,
        interruptGraceMs: this.options.interruptGraceMs,
        resume,
        onEvent: reported => {
          const event = mask(reported);
          if (event.type === 'output') {
            cells.add(event);
          } else if (
            event.type === 'outputs-cleared' ||
            event.type === 'output-updated'
          ) {
            cells.change(event);
          }
          recorder.handle(event);
        },
        onUnresponsiveKernel: async () => {
          await kernel.kill();
        }
      });
      // Its errors and outputs end up in the run's record and executed notebook.
      result = mask(unmasked);
    } finally {
      if (result && keepable(result) && !kernel.dead) {
        this.held = {
          runId: run.id,
          flowId: run.flowId,
          flowVersion: run.flowVersion,
          parameters: checked.values,
          kernel,
          // A mapped task's elements are not tasks of the spec: a retry runs the task again whole.
          completed: result.tasks
            .filter(
              t => t.state === 'Completed' && !parseElementTaskName(t.name)
            )
            .map(t => t.name),
          setupCellsDone: setupCellsRun(spec, result),
          outputs: cells
        };
      } else {
        await (kernel.dead ? kernel.exited : kernel.shutdown(2000));
      }
      await recorder.drain();
    }

    if (this.storeFailure === null) {
      try {
        await store.saveExecutedNotebook(
          run.id,
          buildExecutedNotebook({
            notebook: version.notebook,
            run,
            parameters: checked.values,
            result,
            outputs: cells,
            languageInfo: kernel.kernelInfo?.language_info,
            // A kept kernel's models include the earlier run's: they are the kernel's state now.
            widgets: kernel.widgets.toMetadata()
          })
        );
      } catch (error) {
        this.storeFailure = error;
      }
    }
    if (this.storeFailure !== null) {
      // Not the error's message: a store error's quotes the write's parameters (the run's outputs).
      const failure = describeStoreError(this.storeFailure);
      const reason = `a store write failed: ${failure}`;
      await recorder.closeOpenTasks(reason);
      return { state: 'Crashed', reason, error: failure };
    }
    // The loop ends every task it began; this only guards against a task left open by a bug.
    await recorder.closeOpenTasks('the run ended before this task did');

    const error =
      result.state === 'Completed' ? null : (result.error?.summary ?? null);
    if (result.state === 'Cancelled' && this.stop) {
      return { state: this.stop.as, reason: this.stop.reason, error };
    }
    return {
      state: result.state,
      reason: result.kernelUnresponsive
        ? 'the kernel did not respond to an interrupt and was killed'
        : null,
      error
    };
  }

  /**
   * The kept kernel of the retried run, when this retry can continue in it: same flow version, same
   * parameters. One it cannot continue in is shut down (a retry supersedes it either way).
   */
  private async takeKeptKernel(
    original: FlowRunDetail,
    run: FlowRun,
    parameters: Record<string, unknown>
  ): Promise<KeptKernel | null> {
    const kept = this.options.takeKeptKernel?.(original.id) ?? null;
    if (!kept) {
      return null;
    }
    if (
      kept.flowId === run.flowId &&
      kept.flowVersion === run.flowVersion &&
      sameParameterValues(kept.parameters, parameters)
    ) {
      return kept;
    }
    await kept.kernel.shutdown(2000).catch(() => undefined);
    return null;
  }

  /** Keeps the held kernel when the run ends Failed and the service takes it; else stops it. */
  private async releaseKernel(end: RunEnd): Promise<void> {
    const held = this.held;
    this.held = null;
    if (!held) {
      return;
    }
    const keep =
      end.state === 'Failed' &&
      this.stop === null &&
      !held.kernel.dead &&
      (this.options.keepKernel?.(held) ?? false);
    if (!keep) {
      await (held.kernel.dead
        ? held.kernel.exited
        : held.kernel.shutdown(2000));
    }
  }

  private notify(): void {
    try {
      this.options.hub?.notify(this.options.run.workspaceId);
    } catch {
      // A broken listener must not break the run.
    }
  }
}

/** A Failed run whose kernel a retry can continue in (see the decisions at the top). */
function keepable(result: RunResult): boolean {
  const source = result.error?.source;
  return (
    result.state === 'Failed' &&
    !result.kernelUnresponsive &&
    (source === 'task' || source === 'setup')
  );
}

/**
 * The setup cells that ran in the kernel, of the tasks that did not complete (a completed task is kept
 * whole): all of a task that failed in its own code; those before the failing one of a task that
 * failed in its setup (none when that cell is unknown: running setup again is the safer mistake).
 */
function setupCellsRun(spec: FlowSpec, result: RunResult): string[] {
  const records = new Map(result.tasks.map(t => [t.name, t]));
  return spec.tasks.flatMap(task => {
    const record = records.get(task.name);
    if (record?.state !== 'Failed') {
      return [];
    }
    if (record.error?.source !== 'setup') {
      return task.setup.map(cell => cell.cellId);
    }
    const failedAt = task.setup.findIndex(
      cell => cell.cellId === record.error?.cellId
    );
    return task.setup.slice(0, Math.max(0, failedAt)).map(cell => cell.cellId);
  });
}

/** The retried run's outputs on the cells this run does not execute, for its executed notebook. */
function seedKeptOutputs(
  cells: CellOutputs,
  kept: KeptKernel,
  spec: FlowSpec
): void {
  const ids: string[] = [];
  if (spec.parametersCell) {
    ids.push(spec.parametersCell.cellId);
  }
  const completed = new Set(kept.completed);
  for (const task of spec.tasks) {
    if (completed.has(task.name)) {
      ids.push(task.cellId, ...task.setup.map(cell => cell.cellId));
    }
  }
  ids.push(...kept.setupCellsDone);
  for (const id of ids) {
    const outputs = kept.outputs.get(id);
    if (outputs) {
      cells.seed(id, outputs);
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
