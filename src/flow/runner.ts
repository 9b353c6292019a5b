/**
 * The run loop: executes a FlowSpec on a FlowKernel (parameters, then tasks in order with their setup
 * cells, retries, timeouts and cancellation, then teardown) and reports every state change as an event.
 * Written once over FlowKernel so the extension's "Run here" and the server's executor behave the same.
 *
 * Decisions:
 * - A task is 'NotRun' when an upstream task did not complete, or when the run stopped (cancelled,
 *   crashed) before reaching it. 'Cancelled' is kept for the task that was running when the run was
 *   cancelled, so the UI can tell "stopped here" from "never started".
 * - Setup cells run once, while the task is Running as attempt 1; a failing setup cell fails the task
 *   with that error (the error names the setup cell) and is not retried.
 * - A timed-out attempt is a failed attempt ("TimeoutError: timed out after N s") and is retried if
 *   retries remain. When the kernel does not stop within the grace period after the interrupt, the loop
 *   gives up on the kernel: the task is Failed (timed out), the run Crashed (the kernel is unusable and
 *   nothing more can run on it), and `onUnresponsiveKernel` is called so the owner can kill it.
 * - A kernel death (KernelDiedError, or any rejection of execute) makes the running task and the run
 *   Crashed. The run is Cancelled when cancelled, else Failed when any task, the parameters or the
 *   teardown failed, else Completed.
 * - Teardown cells run only when every task completed.
 * - Resuming (`resume`, a retry in the failed run's own kernel): the kernel already holds the results
 *   of the tasks that completed there and the parameters, so neither runs again. Those tasks are
 *   reported Completed at once (attempt 0, `kept`), before anything executes; the parameters cell and
 *   the injection are skipped, since re-running them would overwrite what upstream tasks may have
 *   changed. Setup cells that already ran in that kernel are not run again either (they set up state
 *   the kernel still holds; running them twice could, say, open a second connection); the others of
 *   the task's setup run as usual, from the one that failed, if one did.
 */
import { retryDelayMs } from './backoff.js';
import { timerMs } from './limits.js';
import {
  ExecuteResult,
  FlowKernel,
  IopubOutput,
  KernelDiedError,
  KernelOutput
} from './kernel.js';
import { MapHost, runMappedTask, withElements } from './mapping.js';
import { OutputArea, OutputChange } from './output-area.js';
import {
  injectedParameterValues,
  parameterInjectionCode
} from './parameters.js';
import { FlowSpec, SetupCell, TaskSpec } from './spec.js';
import { CacheBegin, RunCacheOptions, TaskCacheSession } from './task-cache.js';

export type TaskState =
  | 'Pending'
  | 'Running'
  | 'AwaitingRetry'
  | 'Retrying'
  | 'Completed'
  | 'Failed'
  | 'Cancelled'
  | 'Crashed'
  | 'NotRun';

export type RunState =
  'Running' | 'Completed' | 'Failed' | 'Cancelled' | 'Crashed';

export type AttemptState = 'Completed' | 'Failed' | 'Cancelled' | 'Crashed';

/** Where a piece of code came from, for outputs and errors. */
export type CellSource =
  'parameters' | 'injection' | 'setup' | 'task' | 'teardown';

export interface RunError {
  ename: string;
  evalue: string;
  traceback: string[];
  /** One line for a chip, e.g. "ValueError: no data". */
  summary: string;
  /** The cell that raised, when known. */
  cellId?: string;
  source?: CellSource;
  /** Set when the attempt was stopped by its timeout. */
  timedOut?: boolean;
}

/** Attempt numbering, so a UI can show "Retrying 1/3". */
export interface AttemptInfo {
  /** 1-based attempt number (0 while Pending/NotRun: no attempt made). */
  attempt: number;
  /** retries + 1. */
  maxAttempts: number;
  /** attempt - 1: which retry this is (0 = first attempt). */
  retry: number;
  maxRetries: number;
}

export interface TaskStateEvent extends AttemptInfo {
  type: 'task-state';
  at: number;
  task: string;
  cellId: string;
  state: TaskState;
  previous: TaskState | null;
  /** For Failed, Crashed and AwaitingRetry (the error of the attempt that failed). */
  error?: RunError;
  /** For AwaitingRetry: when the next attempt starts (ms since epoch, from options.now). */
  retryAt?: number;
  /** For NotRun: why the task was not run; for a kept task: where its result comes from. */
  reason?: string;
  /** True on the Completed of a task kept from an earlier run in the same kernel (not executed). */
  kept?: boolean;
  /** On the Completed of a cache hit (not executed): the run whose result was restored. */
  cachedFrom?: string;
}

/** Which execution of which cell an output belongs to. */
export interface OutputPlace {
  source: CellSource;
  cellId: string | null;
  /** The task the output belongs to (setup and task cells). */
  task?: string;
  attempt?: number;
}

/**
 * An nbformat output added at the end of its cell's outputs (of this execution). Display updates and
 * clear_output are applied as nbclient applies them (output-area.ts) and reported as the two events
 * below, so a consumer that mirrors a cell's outputs applies these three.
 */
export interface OutputEvent extends OutputPlace {
  type: 'output';
  at: number;
  output: KernelOutput;
}

/** The cell's outputs of this execution were cleared (clear_output). */
export interface OutputsClearedEvent extends OutputPlace {
  type: 'outputs-cleared';
  at: number;
}

/** The output at `index` of the place's outputs is now `output` (a display updated by its display_id). */
export interface OutputUpdatedEvent extends OutputPlace {
  type: 'output-updated';
  at: number;
  index: number;
  output: KernelOutput;
}

export interface RunStateEvent {
  type: 'run-state';
  at: number;
  state: RunState;
  previous: RunState | null;
  error?: RunError;
}

export type RunEvent =
  | TaskStateEvent
  | OutputEvent
  | OutputsClearedEvent
  | OutputUpdatedEvent
  | RunStateEvent;

export interface AttemptRecord {
  attempt: number;
  startedAt: number;
  endedAt: number;
  state: AttemptState;
  outputs: KernelOutput[];
  error?: RunError;
  executionCount?: number | null;
  /** A task of several cells (TaskSpec.cells): each cell's execution count, by cell id. */
  executionCounts?: Record<string, number | null>;
}

export interface TaskRecord {
  name: string;
  cellId: string;
  state: TaskState;
  attempts: AttemptRecord[];
  /** Outputs of the task's setup cells. */
  setupOutputs: KernelOutput[];
  error?: RunError;
  startedAt?: number;
  endedAt?: number;
  /** For NotRun, and for a kept task. */
  reason?: string;
  /** Completed in an earlier run in this kernel; not executed in this one (no attempts). */
  kept?: boolean;
  /** A cache hit: the run whose result was restored (its one attempt shows the cached outputs). */
  cachedFrom?: string;
}

/** One execution of a cell: its execution count and when it ran (ms since epoch). */
export interface CellExecution {
  executionCount: number | null;
  startedAt: number;
  endedAt: number;
}

/** The parameter values this run injected after the parameters cell, and that execution. */
export interface InjectionRecord {
  values: Record<string, unknown>;
  execution: CellExecution | null;
}

export interface RunResult {
  state: RunState;
  startedAt: number;
  endedAt: number;
  tasks: TaskRecord[];
  /** The error that decided the run's state (first failure), if any. */
  error?: RunError;
  parametersOutputs: KernelOutput[];
  teardownOutputs: KernelOutput[];
  /** True when the loop gave up on the kernel (it did not stop after an interrupt). */
  kernelUnresponsive: boolean;
  /**
   * Every cell this run executed (parameters, setup, tasks, teardown), by cell id: its last execution,
   * so the executed notebook carries counts and times on every cell that ran.
   */
  cells: Record<string, CellExecution>;
  /** What was injected after the parameters cell, or null when nothing was. */
  injection: InjectionRecord | null;
}

export interface UnresponsiveKernelInfo {
  reason: 'timeout' | 'cancel';
  task?: string;
  graceMs: number;
}

/** A run continued in a kernel that already ran part of it (a retry in the failed run's kernel). */
export interface ResumeFrom {
  /**
   * Task name → reason: tasks whose results the kernel holds. They are reported Completed with the
   * reason (attempt 0, `kept`) and not executed.
   */
  completed: ReadonlyMap<string, string>;
  /**
   * Setup cells (by cell id) that already ran in this kernel: not run again. The rest of a task's
   * setup still runs, e.g. from the setup cell that failed on.
   */
  setupCellsDone?: ReadonlySet<string>;
}

export interface RunOptions {
  /**
   * The run's parameter values, already checked (validateParameterValues); those the parameters cell
   * does not already set (injectedParameterValues) are injected as data with parameterInjectionCode
   * after the parameters cell.
   */
  parameters?: Record<string, unknown>;
  /**
   * Run the injection as a cell of its own, with an execution count, as papermill's injected cell
   * runs (the server's executed notebook shows it); by default it is silent and leaves no history.
   */
  injectionVisible?: boolean;
  /** Ready-made injection code; used instead of `parameters` when given. */
  parametersCode?: string;
  onEvent?: (event: RunEvent) => void;
  /** Aborting interrupts the kernel, cancels the running task, and runs nothing more. */
  signal?: AbortSignal;
  /** How long to wait for a request to end after an interrupt before giving up on the kernel. */
  interruptGraceMs?: number;
  /** Called once when the loop gives up on the kernel; the owner should kill it. */
  onUnresponsiveKernel?: (info: UnresponsiveKernelInfo) => void | Promise<void>;
  /** Retry delay jitter as a fraction (0.1 = ±10 %); off by default. */
  jitter?: number;
  random?: () => number;
  /** Clock in ms since epoch; injectable for tests. */
  now?: () => number;
  /**
   * Wait `ms`; must settle promptly (resolve or reject) when `signal` aborts. Injectable for tests.
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Called when onEvent throws: a broken listener must not leave the kernel half-way. */
  onListenerError?: (error: unknown, event: RunEvent) => void;
  /**
   * Continue in a kernel that already ran part of this flow with these parameters: the parameters
   * cell and the injection are not run, nor the kept tasks, nor the setup cells already run.
   */
  resume?: ResumeFrom;
  /** Task caching (task-cache.ts); without it tasks with `--cache-for` simply run. */
  cache?: RunCacheOptions;
}

export const DEFAULT_INTERRUPT_GRACE_MS = 5000;

/** Runs `spec` on `kernel`. Never rejects for task failures: they are in the result and the events. */
export async function runFlow(
  spec: FlowSpec,
  kernel: FlowKernel,
  options: RunOptions = {}
): Promise<RunResult> {
  return new FlowRun(spec, kernel, options).run();
}

/** The one-line summary of an error, as a chip shows it. */
export function errorSummary(ename: string, evalue: string): string {
  const value = evalue.split('\n').find(line => line.trim() !== '') ?? '';
  return value ? `${ename}: ${value.trim()}` : ename;
}

/**
 * Waits `ms` (or until `signal` aborts). Node fires a timer longer than 2^31-1 ms at once, so a
 * longer wait is made of timers of at most MAX_TIMER_MS.
 */
export function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal.aborted) {
      resolve();
      return;
    }
    let remaining = Number.isNaN(ms) ? 0 : Math.max(0, ms);
    let timer: ReturnType<typeof setTimeout>;
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const next = () => {
      const step = timerMs(remaining);
      remaining -= step;
      timer = setTimeout(() => {
        if (remaining > 0 && Number.isFinite(remaining)) {
          next();
          return;
        }
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, step);
    };
    next();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** What one guarded execute ended with. */
type Guarded =
  | { kind: 'done'; result: ExecuteResult }
  | { kind: 'died'; error: unknown }
  | { kind: 'timeout' | 'cancel'; result?: ExecuteResult; responsive: boolean };

type Race =
  | { kind: 'done'; result: ExecuteResult }
  | { kind: 'died'; error: unknown }
  | { kind: 'timeout' }
  | { kind: 'cancel' }
  | { kind: 'grace-expired' };

const NEVER = new Promise<never>(() => undefined);

class FlowRun {
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly graceMs: number;
  private readonly injectionCode: string | null;
  private readonly injectedValues: Record<string, unknown>;
  private injectionExecution: CellExecution | null = null;
  private readonly cellExecutions: Record<string, CellExecution> = {};
  private readonly records = new Map<string, TaskRecord>();
  private runState: RunState | null = null;
  private firstError: RunError | undefined;
  private kernelUnresponsive = false;
  private parametersOutputs: KernelOutput[] = [];
  private teardownOutputs: KernelOutput[] = [];
  /** Every cell's outputs of this run, and the display ids shown in them. */
  private readonly outputArea = new OutputArea<OutputPlace>();
  /** Set once nothing more may run: 'cancel' or 'crash'. */
  private stopped: 'cancel' | 'crash' | null = null;
  private failed = false;
  private readonly kept: ReadonlyMap<string, string>;
  private readonly setupCellsDone: ReadonlySet<string>;
  private readonly cache: TaskCacheSession | null;

  constructor(
    private readonly spec: FlowSpec,
    private readonly kernel: FlowKernel,
    private readonly options: RunOptions
  ) {
    this.now = options.now ?? Date.now;
    const sleep = options.sleep ?? defaultSleep;
    // A spec stored before the bounds of limits.ts may ask for more than a timer holds.
    this.sleep = (ms, signal) => sleep(timerMs(ms), signal);
    this.graceMs = options.interruptGraceMs ?? DEFAULT_INTERRUPT_GRACE_MS;
    // Built before anything runs: a parameter name that is not an identifier is the caller's bug.
    this.injectedValues = options.parameters
      ? injectedParameterValues(
          spec.parametersCell?.code ?? null,
          options.parameters
        )
      : {};
    this.injectionCode =
      options.parametersCode ??
      (Object.keys(this.injectedValues).length > 0
        ? parameterInjectionCode(this.injectedValues)
        : null);
    this.kept = options.resume?.completed ?? new Map();
    this.setupCellsDone = options.resume?.setupCellsDone ?? new Set();
    this.cache = options.cache
      ? new TaskCacheSession(
          spec,
          kernel,
          options.cache,
          options.parameters ?? {},
          this.now
        )
      : null;
    const tasks = new Set(spec.tasks.map(t => t.name));
    for (const name of this.kept.keys()) {
      if (!tasks.has(name)) {
        throw new Error(
          `Cannot resume flow '${spec.name}': it has no task '${name}'`
        );
      }
    }
    const setupCells = new Set(
      spec.tasks.flatMap(t => t.setup.map(c => c.cellId))
    );
    for (const id of this.setupCellsDone) {
      if (!setupCells.has(id)) {
        throw new Error(
          `Cannot resume flow '${spec.name}': it has no setup cell '${id}'`
        );
      }
    }
  }

  async run(): Promise<RunResult> {
    const startedAt = this.now();
    this.setRunState('Running');
    for (const task of this.spec.tasks) {
      this.records.set(task.name, {
        name: task.name,
        cellId: task.cellId,
        state: 'Pending',
        attempts: [],
        setupOutputs: []
      });
      this.emitTask(task, 'Pending', 0);
    }
    for (const task of this.spec.tasks) {
      const reason = this.kept.get(task.name);
      if (reason !== undefined) {
        const record = this.records.get(task.name)!;
        record.reason = reason;
        record.kept = true;
        this.emitTask(task, 'Completed', 0, { reason, kept: true });
      }
    }

    // Resuming: the kernel already holds the parameters (and whatever upstream tasks did to them).
    if (this.options.resume || (await this.runPreamble())) {
      for (const task of this.spec.tasks) {
        await this.runTask(task);
      }
      if (this.stopped === null && !this.failed) {
        await this.runTeardown();
      }
    } else {
      for (const task of this.spec.tasks) {
        if (!this.kept.has(task.name)) {
          this.markNotRun(task, this.notRunReason());
        }
      }
    }

    const state: RunState =
      this.stopped === 'crash'
        ? 'Crashed'
        : this.stopped === 'cancel'
          ? 'Cancelled'
          : this.failed
            ? 'Failed'
            : 'Completed';
    this.setRunState(
      state,
      state === 'Completed' ? undefined : this.firstError
    );
    return {
      state,
      startedAt,
      endedAt: this.now(),
      // A mapped task's elements (`fetch[0]`, ...) follow it.
      tasks: withElements(
        this.spec.tasks.map(t => t.name),
        this.records
      ),
      error: this.firstError,
      parametersOutputs: this.parametersOutputs,
      teardownOutputs: this.teardownOutputs,
      kernelUnresponsive: this.kernelUnresponsive,
      cells: this.cellExecutions,
      injection:
        this.injectionCode !== null && !this.options.resume
          ? { values: this.injectedValues, execution: this.injectionExecution }
          : null
    };
  }

  /** Parameters cell defaults, then the injected values. False when the run cannot go on. */
  private async runPreamble(): Promise<boolean> {
    const cell = this.spec.parametersCell;
    if (cell) {
      const ok = await this.runPlumbing(
        cell.code,
        'parameters',
        cell,
        true,
        this.parametersOutputs
      );
      if (!ok) {
        return false;
      }
    }
    if (this.injectionCode) {
      return this.runPlumbing(
        this.injectionCode,
        'injection',
        null,
        this.options.injectionVisible ?? false,
        []
      );
    }
    return true;
  }

  private async runTeardown(): Promise<void> {
    for (const cell of this.spec.teardown) {
      const ok = await this.runPlumbing(
        cell.code,
        'teardown',
        cell,
        true,
        this.teardownOutputs
      );
      if (!ok) {
        return;
      }
    }
  }

  /** Runs a cell that is not a task (no timeout, no retry). False when it failed or the run stopped. */
  private async runPlumbing(
    code: string,
    source: CellSource,
    cell: SetupCell | null,
    visible: boolean,
    outputs: KernelOutput[]
  ): Promise<boolean> {
    if (this.options.signal?.aborted) {
      this.stopped = 'cancel';
      return false;
    }
    const cellId = cell?.cellId ?? null;
    // The cell's own list (clear_output clears this cell only), added to `outputs` once it ended.
    const own: KernelOutput[] = [];
    const startedAt = this.now();
    const outcome = await this.guardedExecute(
      code,
      {
        storeHistory: visible,
        silent: !visible,
        onOutput: this.collect({ source, cellId }, own)
      },
      null,
      undefined
    );
    outputs.push(...own);
    const execution = this.executed(cellId, startedAt, outcome);
    if (source === 'injection' && visible) {
      this.injectionExecution = execution;
    }
    switch (outcome.kind) {
      case 'done': {
        const error = this.resultError(
          outcome.result,
          source,
          cellId ?? undefined,
          cell
        );
        if (error) {
          this.fail(error);
          return false;
        }
        return true;
      }
      case 'died':
        this.crash(this.diedError(outcome.error, source, cellId ?? undefined));
        return false;
      default:
        this.stopped = 'cancel';
        return false;
    }
  }

  private async runTask(task: TaskSpec): Promise<void> {
    if (this.kept.has(task.name)) {
      return;
    }
    if (this.stopped !== null) {
      this.markNotRun(task, this.notRunReason());
      return;
    }
    if (this.options.signal?.aborted) {
      this.stopped = 'cancel';
      this.markNotRun(task, this.notRunReason());
      return;
    }
    const blocker = task.upstream.find(
      name => this.records.get(name)?.state !== 'Completed'
    );
    if (blocker !== undefined) {
      const state = this.records.get(blocker)?.state ?? 'unknown';
      this.markNotRun(task, `upstream task '${blocker}' is ${state}`);
      return;
    }

    const record = this.records.get(task.name)!;
    const maxAttempts = Math.max(0, Math.floor(task.retries)) + 1;
    record.startedAt = this.now();
    this.emitTask(task, 'Running', 1);

    if (!(await this.runSetup(task, record))) {
      return;
    }
    if (task.map) {
      // A mapped task is not cached (its elements differ by the bound value, which no key holds).
      await runMappedTask(this.mapHost(task), { ...task, map: task.map });
      return;
    }
    const cached = this.cache ? await this.cache.begin(task) : null;
    if (cached?.kind === 'hit') {
      this.replayCached(task, record, cached);
      return;
    }

    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) {
        this.emitTask(task, 'Retrying', attempt);
      }
      const outputs: KernelOutput[] = [];
      const startedAt = this.now();
      const timeout =
        task.timeout !== null && task.timeout > 0 ? task.timeout : null;
      // A task of several cells (the whole notebook) runs them in order, up to the first that does
      // not end ok; each keeps its own outputs, and `cellId` names the one that ran last.
      const cells = task.cells ?? [task];
      const executionCounts: Record<string, number | null> = {};
      let outcome: Guarded = { kind: 'cancel', responsive: true };
      let cellId = task.cellId;
      let lastCell: SetupCell = task;
      for (const cell of cells) {
        cellId = cell.cellId;
        lastCell = cell;
        const own: KernelOutput[] = cells.length === 1 ? outputs : [];
        const cellStartedAt = this.now();
        outcome = await this.guardedExecute(
          cell.code,
          {
            storeHistory: true,
            onOutput: this.collect(
              { source: 'task', cellId, task: task.name, attempt },
              own
            )
          },
          timeout,
          task.name
        );
        if (own !== outputs) {
          outputs.push(...own);
        }
        this.executed(cellId, cellStartedAt, outcome);
        if (outcome.kind === 'done') {
          executionCounts[cellId] = outcome.result.executionCount ?? null;
        }
        if (
          outcome.kind !== 'done' ||
          this.resultError(outcome.result, 'task', cellId, cell)
        ) {
          break;
        }
      }
      const finish = (
        state: AttemptState,
        error?: RunError,
        result?: ExecuteResult
      ) => {
        record.attempts.push({
          attempt,
          startedAt,
          endedAt: this.now(),
          state,
          outputs,
          error,
          executionCount: result?.executionCount,
          ...(task.cells ? { executionCounts } : {})
        });
      };

      let error: RunError | undefined;
      switch (outcome.kind) {
        case 'done':
          error = this.resultError(outcome.result, 'task', cellId, lastCell);
          if (!error) {
            finish('Completed', undefined, outcome.result);
            const note = cached
              ? await this.cache!.finish(task, cached, outputs)
              : undefined;
            record.reason = note;
            this.endTask(task, 'Completed', attempt, undefined, {
              reason: note
            });
            return;
          }
          finish('Failed', error, outcome.result);
          break;
        case 'died': {
          const died = this.diedError(outcome.error, 'task', cellId);
          finish('Crashed', died);
          this.endTask(task, 'Crashed', attempt, died);
          this.crash(died);
          return;
        }
        case 'cancel':
          finish('Cancelled', undefined, outcome.result);
          this.endTask(task, 'Cancelled', attempt);
          this.stopped = this.stopped ?? 'cancel';
          return;
        case 'timeout':
          error = {
            ename: 'TimeoutError',
            evalue: `timed out after ${timeout} s`,
            traceback: outcome.result?.traceback ?? [],
            summary: errorSummary(
              'TimeoutError',
              `timed out after ${timeout} s`
            ),
            cellId,
            source: 'task',
            timedOut: true
          };
          finish('Failed', error, outcome.result);
          if (!outcome.responsive) {
            // The kernel is unusable: no retry is possible on it.
            this.endTask(task, 'Failed', attempt, error);
            this.crash(error);
            return;
          }
          break;
      }

      if (attempt >= maxAttempts) {
        this.endTask(task, 'Failed', attempt, error);
        this.fail(error!);
        return;
      }
      const delay = retryDelayMs(task, attempt, {
        jitter: this.options.jitter,
        random: this.options.random
      });
      this.emitTask(task, 'AwaitingRetry', attempt, {
        error,
        retryAt: this.now() + delay
      });
      if (!(await this.waitForRetry(delay))) {
        this.endTask(task, 'Cancelled', attempt);
        this.stopped = 'cancel';
        return;
      }
    }
  }

  /** A cache hit, already restored in the kernel: its outputs shown again, Completed, not executed. */
  private replayCached(
    task: TaskSpec,
    record: TaskRecord,
    hit: Extract<CacheBegin, { kind: 'hit' }>
  ): void {
    const startedAt = this.now();
    const outputs: KernelOutput[] = [];
    const add = this.collect(
      { source: 'task', cellId: task.cellId, task: task.name, attempt: 1 },
      outputs
    );
    for (const output of hit.entry.outputs) {
      add(output);
    }
    record.attempts.push({
      attempt: 1,
      startedAt,
      endedAt: this.now(),
      state: 'Completed',
      outputs
    });
    record.reason = hit.reason;
    record.cachedFrom = hit.entry.runId;
    this.endTask(task, 'Completed', 1, undefined, {
      reason: hit.reason,
      cachedFrom: hit.entry.runId
    });
  }

  /** What mapping.ts needs to run a mapped task's elements as tasks of their own (mapping.ts). */
  private mapHost(task: TaskSpec): MapHost {
    return {
      execute: async (code, options) => {
        const outcome = await this.guardedExecute(
          code,
          options,
          null,
          task.name
        );
        if (outcome.kind === 'done') {
          return outcome;
        }
        if (outcome.kind === 'died') {
          const error = this.diedError(outcome.error, 'task', task.cellId);
          return { kind: 'died', error };
        }
        this.stopped = this.stopped ?? 'cancel';
        return { kind: 'stopped' };
      },
      addElement: element => {
        this.records.set(element.name, {
          name: element.name,
          cellId: element.cellId,
          state: 'Pending',
          attempts: [],
          setupOutputs: []
        });
        this.emitTask(element, 'Pending', 0);
      },
      runElement: async element => {
        await this.runTask(element);
        return this.records.get(element.name)!;
      },
      notRun: (element, reason) => this.markNotRun(element, reason),
      endTask: (state, error) => {
        this.endTask(task, state, 1, error);
        if (state === 'Failed') {
          this.fail(error!);
        } else if (state === 'Crashed') {
          this.crash(error!);
        } else if (state === 'Cancelled') {
          this.stopped = this.stopped ?? 'cancel';
        }
      },
      isStopped: () =>
        this.stopped !== null || this.options.signal?.aborted === true,
      errorOf: result =>
        this.resultError(result, 'task', task.cellId) ?? {
          ename: 'Error',
          evalue: '',
          traceback: [],
          summary: 'Error'
        }
    };
  }

  /** Runs the task's setup cells; false (task already ended) when one failed or the run stopped. */
  private async runSetup(task: TaskSpec, record: TaskRecord): Promise<boolean> {
    const startedAt = this.now();
    for (const cell of task.setup) {
      if (this.setupCellsDone.has(cell.cellId)) {
        continue;
      }
      const own: KernelOutput[] = [];
      const cellStartedAt = this.now();
      const outcome = await this.guardedExecute(
        cell.code,
        {
          storeHistory: true,
          onOutput: this.collect(
            {
              source: 'setup',
              cellId: cell.cellId,
              task: task.name,
              attempt: 1
            },
            own
          )
        },
        null,
        task.name
      );
      record.setupOutputs.push(...own);
      this.executed(cell.cellId, cellStartedAt, outcome);
      const finish = (state: AttemptState, error?: RunError) =>
        record.attempts.push({
          attempt: 1,
          startedAt,
          endedAt: this.now(),
          state,
          outputs: [],
          error
        });
      switch (outcome.kind) {
        case 'done': {
          const error = this.resultError(
            outcome.result,
            'setup',
            cell.cellId,
            cell
          );
          if (error) {
            finish('Failed', error);
            this.endTask(task, 'Failed', 1, error);
            this.fail(error);
            return false;
          }
          break;
        }
        case 'died': {
          const died = this.diedError(outcome.error, 'setup', cell.cellId);
          finish('Crashed', died);
          this.endTask(task, 'Crashed', 1, died);
          this.crash(died);
          return false;
        }
        default:
          finish('Cancelled');
          this.endTask(task, 'Cancelled', 1);
          this.stopped = this.stopped ?? 'cancel';
          return false;
      }
    }
    return true;
  }

  /** Sleeps before a retry; false when cancelled meanwhile (stops waiting at once). */
  private async waitForRetry(ms: number): Promise<boolean> {
    const signal = this.options.signal;
    if (signal?.aborted) {
      return false;
    }
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.sleep(ms, stop.signal).catch(() => undefined);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return !signal?.aborted;
  }

  /**
   * Executes with an optional timeout and the run's cancel signal. On timeout or cancel the kernel is
   * interrupted and the request given `interruptGraceMs` to end; past that the kernel is declared
   * unresponsive and the owner told.
   */
  private async guardedExecute(
    code: string,
    options: Parameters<FlowKernel['execute']>[1],
    timeoutSeconds: number | null,
    taskName: string | undefined
  ): Promise<Guarded> {
    let execution: Promise<ExecuteResult>;
    try {
      execution = this.kernel.execute(code, options);
    } catch (error) {
      return { kind: 'died', error };
    }
    const settled: Promise<Race> = execution.then(
      result => ({ kind: 'done', result }),
      error => ({ kind: 'died', error })
    );
    const timers = new AbortController();
    const racers: Promise<Race>[] = [settled];
    if (timeoutSeconds !== null) {
      racers.push(this.timer(timeoutSeconds * 1000, timers.signal, 'timeout'));
    }
    const signal = this.options.signal;
    let onAbort: (() => void) | undefined;
    if (signal) {
      racers.push(
        new Promise<Race>(resolve => {
          if (signal.aborted) {
            resolve({ kind: 'cancel' });
            return;
          }
          onAbort = () => resolve({ kind: 'cancel' });
          signal.addEventListener('abort', onAbort, { once: true });
        })
      );
    }
    const first = await Promise.race(racers);
    timers.abort();
    if (onAbort) {
      signal?.removeEventListener('abort', onAbort);
    }
    if (first.kind === 'done' || first.kind === 'died') {
      return first;
    }
    const reason = first.kind === 'timeout' ? 'timeout' : 'cancel';

    // Interrupt and give the request a grace period to end (usually with KeyboardInterrupt). The
    // interrupt itself is not awaited: a stuck kernel may never answer it, and the grace covers both.
    const grace = new AbortController();
    this.kernel.interrupt().catch(() => undefined);
    const after = await Promise.race([
      settled,
      this.timer(this.graceMs, grace.signal, 'grace-expired')
    ]);
    grace.abort();
    if (after.kind === 'died') {
      return after;
    }
    if (after.kind === 'done') {
      return { kind: reason, result: after.result, responsive: true };
    }
    this.kernelUnresponsive = true;
    try {
      await this.options.onUnresponsiveKernel?.({
        reason,
        task: taskName,
        graceMs: this.graceMs
      });
    } catch {
      // The hook's failure must not hide the run's outcome; the kernel is given up on either way.
    }
    return { kind: reason, responsive: false };
  }

  /** Resolves with `{kind}` after ms, or never when `signal` aborts first. */
  private timer(
    ms: number,
    signal: AbortSignal,
    kind: 'timeout' | 'grace-expired'
  ): Promise<Race> {
    return this.sleep(ms, signal).then(
      () => (signal.aborted ? NEVER : { kind }),
      () => NEVER
    );
  }

  /** Records a cell's execution for the executed notebook (the last one of a cell wins). */
  private executed(
    cellId: string | null,
    startedAt: number,
    outcome: Guarded
  ): CellExecution {
    const execution: CellExecution = {
      executionCount:
        outcome.kind === 'done' || outcome.kind === 'timeout'
          ? (outcome.result?.executionCount ?? null)
          : null,
      startedAt,
      endedAt: this.now()
    };
    if (cellId !== null) {
      this.cellExecutions[cellId] = execution;
    }
    return execution;
  }

  /**
   * The error a finished request reports, or undefined when it ended ok, or raised in a cell tagged
   * `raises-exception` (the error stays in the outputs, and the run goes on, as nbclient does).
   */
  private resultError(
    result: ExecuteResult,
    source: CellSource,
    cellId: string | undefined,
    cell?: SetupCell | null
  ): RunError | undefined {
    if (
      result.status === 'ok' ||
      (result.status === 'error' && cell?.raisesException)
    ) {
      return undefined;
    }
    if (result.status === 'aborted') {
      const evalue =
        'the kernel aborted the request (an earlier request failed or was interrupted)';
      return {
        ename: 'ExecutionAborted',
        evalue,
        traceback: [],
        summary: errorSummary('ExecutionAborted', evalue),
        cellId,
        source
      };
    }
    const ename = result.ename ?? 'Error';
    const evalue = result.evalue ?? '';
    return {
      ename,
      evalue,
      traceback: result.traceback ?? [],
      summary: errorSummary(ename, evalue),
      cellId,
      source
    };
  }

  private diedError(
    error: unknown,
    source: CellSource,
    cellId: string | undefined
  ): RunError {
    const ename =
      error instanceof KernelDiedError
        ? 'KernelDiedError'
        : error instanceof Error
          ? error.name
          : 'Error';
    const evalue = error instanceof Error ? error.message : String(error);
    return {
      ename,
      evalue,
      traceback: [],
      summary: errorSummary(ename, evalue),
      cellId,
      source
    };
  }

  private fail(error: RunError): void {
    this.failed = true;
    this.firstError = this.firstError ?? error;
  }

  private crash(error: RunError): void {
    this.stopped = 'crash';
    this.firstError = this.firstError ?? error;
  }

  private notRunReason(): string {
    return this.stopped === 'crash'
      ? 'the run crashed'
      : this.stopped === 'cancel'
        ? 'the run was cancelled'
        : 'the run failed before tasks started';
  }

  private markNotRun(task: TaskSpec, reason: string): void {
    const record = this.records.get(task.name)!;
    record.reason = reason;
    this.emitTask(task, 'NotRun', 0, { reason });
  }

  private endTask(
    task: TaskSpec,
    state: TaskState,
    attempt: number,
    error?: RunError,
    extra: Partial<Pick<TaskStateEvent, 'reason' | 'cachedFrom'>> = {}
  ): void {
    const record = this.records.get(task.name)!;
    record.endedAt = this.now();
    record.error = error;
    this.emitTask(task, state, attempt, { error, ...extra });
  }

  private emitTask(
    task: TaskSpec,
    state: TaskState,
    attempt: number,
    extra: Partial<
      Pick<
        TaskStateEvent,
        'error' | 'retryAt' | 'reason' | 'kept' | 'cachedFrom'
      >
    > = {}
  ): void {
    const record = this.records.get(task.name)!;
    const previous = state === 'Pending' ? null : record.state;
    record.state = state;
    const maxRetries = Math.max(0, Math.floor(task.retries));
    const event: TaskStateEvent = {
      type: 'task-state',
      at: this.now(),
      task: task.name,
      cellId: task.cellId,
      state,
      previous,
      attempt,
      maxAttempts: maxRetries + 1,
      retry: Math.max(0, attempt - 1),
      maxRetries
    };
    for (const [key, value] of Object.entries(extra)) {
      if (value !== undefined) {
        (event as unknown as Record<string, unknown>)[key] = value;
      }
    }
    this.emit(event);
  }

  private setRunState(state: RunState, error?: RunError): void {
    const previous = this.runState;
    this.runState = state;
    const event: RunStateEvent = {
      type: 'run-state',
      at: this.now(),
      state,
      previous
    };
    if (error) {
      event.error = error;
    }
    this.emit(event);
  }

  /** The onOutput of one execution: its outputs go into `outputs`, nbclient's way, each change reported. */
  private collect(
    place: OutputPlace,
    outputs: KernelOutput[]
  ): (output: IopubOutput) => void {
    const list = this.outputArea.list(place, outputs);
    return output => {
      for (const change of list.apply(output)) {
        this.emitOutputChange(change);
      }
    };
  }

  private emitOutputChange(change: OutputChange<OutputPlace>): void {
    const at = this.now();
    switch (change.kind) {
      case 'append':
        this.emit({
          type: 'output',
          at,
          ...change.place,
          output: change.output
        });
        return;
      case 'clear':
        this.emit({ type: 'outputs-cleared', at, ...change.place });
        return;
      case 'update':
        this.emit({
          type: 'output-updated',
          at,
          ...change.place,
          index: change.index,
          output: change.output
        });
        return;
    }
  }

  private emit(event: RunEvent): void {
    if (!this.options.onEvent) {
      return;
    }
    try {
      this.options.onEvent(event);
    } catch (error) {
      if (this.options.onListenerError) {
        this.options.onListenerError(error, event);
      } else {
        console.error('Cellflow: an onEvent listener threw', error);
      }
    }
  }
}
