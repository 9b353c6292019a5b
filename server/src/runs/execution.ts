/**
 * One claimed run, from its task runs to its end state: start a kernel, run the flow with the one run
 * loop (runFlow), record everything it reports, keep the executed notebook, end the run, stop the kernel.
 */
import {
  parameterInjectionCode,
  validateParameterValues
} from '../../../src/flow/parameters.js';
import { runFlow, type RunResult } from '../../../src/flow/runner.js';
import type { FlowSpec } from '../../../src/flow/spec.js';
import { startKernel, type ZmqKernel } from '../executor/index.js';
import type {
  FlowRun,
  FlowRunDetail,
  FlowRunState,
  Store
} from '../store/store.js';
import { buildExecutedNotebook } from './notebook.js';
import { CellOutputs, RunRecorder, type Notifier } from './recorder.js';
import {
  replayReasons,
  retryOfFromEvents,
  splitRunParameters
} from './retry.js';
import { kernelWorkdir } from './workdir.js';

export interface RunExecutionOptions {
  store: Store;
  hub?: Notifier;
  run: FlowRun;
  dataDir: string;
  rootDir?: string;
  kernelPython?: string;
  outputCapBytes?: number;
  /** How long a kernel gets to stop after an interrupt before it is given up on (runFlow's option). */
  interruptGraceMs?: number;
  /** Called with the kernel's pid once it runs (tests, diagnostics). */
  onKernel?: (kernel: ZmqKernel) => void;
}

interface RunEnd {
  state: FlowRunState;
  reason?: string | null;
  error?: string | null;
}

export class RunExecution {
  private readonly abort = new AbortController();
  /** Why the run was stopped from outside: a user's cancel, or the server stopping. */
  private stop: { reason: string; as: 'Cancelled' | 'Crashed' } | null = null;
  private storeFailure: unknown = null;

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
    const { store, run } = this.options;
    let end: RunEnd;
    try {
      end = await this.executeInner();
    } catch (error) {
      end = {
        state: 'Crashed',
        reason: 'the run service failed while running the run',
        error: message(error)
      };
    }
    try {
      const ended = await store.transitionRun(run.id, end.state, {
        from: 'Running',
        reason: end.reason ?? null,
        error: end.error ?? null
      });
      this.notify();
      return ended.state;
    } catch (error) {
      console.error(
        `Cellflow: could not end run ${run.id} as ${end.state}: ${message(error)}`
      );
      return end.state;
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
    const recorder = new RunRecorder({
      store,
      hub: this.options.hub,
      run,
      taskRuns,
      replayReasons: replayReasons(original, spec),
      outputCapBytes: this.options.outputCapBytes,
      onFailure: error => {
        this.storeFailure ??= error;
        this.abort.abort();
      }
    });

    const checked = validateParameterValues(spec.parameters, parameters.values);
    if (!checked.ok) {
      const error = `invalid parameters: ${checked.errors.join('; ')}`;
      await recorder.closeOpenTasks(
        'the run did not start: its parameters are invalid'
      );
      return { state: 'Failed', reason: 'invalid parameters', error };
    }

    if (this.abort.signal.aborted && this.stop) {
      // Stopped while it was being set up: no kernel to start for nothing.
      await recorder.closeOpenTasks(this.stop.reason);
      return { state: this.stop.as, reason: this.stop.reason };
    }
    let kernel: ZmqKernel;
    try {
      kernel = await startKernel({
        python: this.options.kernelPython,
        cwd: await kernelWorkdir({
          rootDir: this.options.rootDir,
          dataDir: this.options.dataDir,
          flowId: run.flowId,
          notebook: version.notebook
        })
      });
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
    let result: RunResult | null = null;
    try {
      result = await runFlow(spec, kernel, {
        parametersCode:
          Object.keys(checked.values).length > 0
            ? parameterInjectionCode(checked.values)
            : undefined,
        signal: this.abort.signal,
        interruptGraceMs: this.options.interruptGraceMs,
        onEvent: event => {
          if (event.type === 'output') {
            cells.add(event);
          }
          recorder.handle(event);
        },
        onUnresponsiveKernel: async () => {
          await kernel.kill();
        }
      });
    } finally {
      await (kernel.dead ? kernel.exited : kernel.shutdown(2000));
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
            outputs: cells
          })
        );
      } catch (error) {
        this.storeFailure = error;
      }
    }
    if (this.storeFailure !== null) {
      const reason = `a store write failed: ${message(this.storeFailure)}`;
      await recorder.closeOpenTasks(reason);
      return { state: 'Crashed', reason, error: message(this.storeFailure) };
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

  private notify(): void {
    try {
      this.options.hub?.notify(this.options.run.workspaceId);
    } catch {
      // A broken listener must not break the run.
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
