/**
 * Writes what the run loop reports into the store, in the order it happened. runFlow calls onEvent
 * synchronously and does not wait, so every write goes through one serial queue; the run's end waits
 * for it to drain. The first failed write stops all further writes (later ones would build on a state
 * the store does not have) and is reported through onFailure so the run can be stopped and crashed.
 */
import type {
  OutputEvent,
  OutputPlace,
  OutputsClearedEvent,
  OutputUpdatedEvent,
  RunError,
  RunEvent,
  TaskStateEvent
} from '../../../src/flow/runner.js';
import type { KernelOutput } from '../../../src/flow/kernel.js';
import { parseElementTaskName } from '../../../src/flow/mapping-options.js';
import type {
  AttemptError,
  FlowRun,
  NewLogLine,
  Store,
  TaskRun,
  TaskRunState,
  TaskTransitionOptions
} from '../store/store.js';
import {
  canTransitionTaskRun,
  isTerminalTaskRunState
} from '../store/states.js';
import {
  LineSplitter,
  OutputCollector,
  outputText,
  stripAnsi
} from './outputs.js';

/** What the recorder needs of the event hub (server/src/events/hub.ts): a structural subset. */
export interface Notifier {
  notify(workspaceId: string): void;
}

export interface RecorderOptions {
  store: Store;
  hub?: Notifier;
  run: FlowRun;
  taskRuns: TaskRun[];
  /** Tasks re-executed only to rebuild the kernel's state (retry of a failed run) → the reason shown. */
  replayReasons?: Map<string, string>;
  outputCapBytes?: number;
  /** Log text kept per task attempt (default DEFAULT_LOG_CAP_BYTES); the rest is counted, not kept. */
  logCapBytes?: number;
  onFailure: (error: unknown) => void;
}

/**
 * A task that prints without end must not fill the store (nor the event stream, which carries each
 * line): 2 MB of log per attempt, the same order as its outputs' cap, and lines of at most 64 K
 * characters. Past the cap, one line says so and the rest is dropped; the attempt's outputs keep their
 * own cap and note.
 */
export const DEFAULT_LOG_CAP_BYTES = 2 * 1024 * 1024;
export const MAX_LOG_LINE_CHARS = 64 * 1024;
/**
 * One transaction holds the embedded store (one connection) for all its steps: a burst of thousands of
 * transitions (a mapped task's elements) goes as several, so API reads get turns in between.
 */
export const MAX_TRANSITIONS_PER_BATCH = 100;

interface LogBudget {
  bytes: number;
  cut: boolean;
}

interface PendingTransition {
  slot: TaskSlot;
  to: TaskRunState;
  options: TaskTransitionOptions;
  /** To Running/Retrying: the attempt begun is the slot's. */
  begins: boolean;
  /** Leaving an attempt: its outputs, saved once the transition ended it. */
  endedOutputs?: OutputCollector;
}

interface TaskSlot {
  taskRun: TaskRun;
  /** The store's state of the task run, as far as our writes made it. */
  state: TaskRunState;
  attemptId: string | null;
  attempt: number;
  outputs: OutputCollector;
  streams: Map<string, LineSplitter>;
}

export class RunRecorder {
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private readonly tasks = new Map<string, TaskSlot>();
  private logBatch: NewLogLine[] | null = null;
  /** Transitions queued and not yet started, when nothing was queued after them: later ones join. */
  private transitionBatch: PendingTransition[] | null = null;
  private readonly logBudgets = new Map<string, LogBudget>();
  private readonly runStreams = new Map<string, LineSplitter>();
  /** Elements of mapped tasks reported but not yet in the store: created by one write. */
  private elementBatch: { names: string[]; slots: TaskSlot[] } | null = null;

  constructor(private readonly options: RecorderOptions) {
    for (const taskRun of options.taskRuns) {
      this.tasks.set(taskRun.taskName, {
        taskRun,
        state: taskRun.state,
        attemptId: null,
        attempt: 0,
        outputs: new OutputCollector(options.outputCapBytes),
        streams: new Map()
      });
    }
  }

  /** The first write that failed, if any. */
  get failed(): unknown {
    return this.failure;
  }

  /** For runFlow's onEvent: never throws, never waits. */
  handle(event: RunEvent): void {
    if (event.type === 'output') {
      this.onOutput(event);
    } else if (
      event.type === 'outputs-cleared' ||
      event.type === 'output-updated'
    ) {
      this.onOutputChange(event);
    } else if (event.type === 'task-state') {
      this.onTaskState(event);
    }
    // run-state: Running was written by the claim, the end is written by the service after drain().
  }

  /** Resolves once every queued write is done (or skipped after a failure). */
  async drain(): Promise<void> {
    this.logBatch = null;
    this.transitionBatch = null;
    // A write may queue another (log events): wait until the tail stops moving.
    let seen: Promise<void> | null = null;
    while (seen !== this.tail) {
      seen = this.tail;
      await seen;
    }
  }

  /**
   * After a failed write: ends the task runs our writes left open (best effort) so none stays Running.
   * `reason` is shown on them.
   */
  async closeOpenTasks(reason: string): Promise<void> {
    await this.drain();
    for (const slot of this.tasks.values()) {
      if (isTerminalTaskRunState(slot.state)) {
        continue;
      }
      const to: TaskRunState =
        slot.state === 'Pending' ? 'Cancelled' : 'Crashed';
      try {
        await this.options.store.transitionTaskRun(slot.taskRun.id, to, {
          reason,
          error: to === 'Crashed' ? reason : null
        });
        slot.state = to;
      } catch {
        // The store is failing: the restart sweep or the lease ends this run's tasks later.
      }
    }
    this.notify();
  }

  private onOutput(event: OutputEvent): void {
    const slot =
      event.task !== undefined ? this.tasks.get(event.task) : undefined;
    if (slot) {
      slot.outputs.add(event.output, segmentKey(event));
    }
    if (event.output.output_type !== 'stream') {
      return;
    }
    const stream = String(event.output.name ?? 'stdout');
    const streams = slot?.streams ?? this.runStreams;
    let splitter = streams.get(stream);
    if (!splitter) {
      splitter = new LineSplitter();
      streams.set(stream, splitter);
    }
    for (const text of splitter.push(outputText(event.output.text))) {
      this.log({
        taskName: event.task ?? null,
        attempt: event.attempt ?? null,
        stream,
        text
      });
    }
  }

  /** clear_output and display updates, in the attempt's outputs (a display of an ended attempt stays). */
  private onOutputChange(
    event: OutputsClearedEvent | OutputUpdatedEvent
  ): void {
    const slot =
      event.task !== undefined ? this.tasks.get(event.task) : undefined;
    if (!slot) {
      return;
    }
    if (event.type === 'outputs-cleared') {
      slot.outputs.clear(segmentKey(event));
    } else {
      slot.outputs.update(event.index, event.output, segmentKey(event));
    }
  }

  private onTaskState(event: TaskStateEvent): void {
    if (event.state === 'Pending' && !this.tasks.has(event.task)) {
      this.addElement(event.task);
      return;
    }
    const slot = this.tasks.get(event.task);
    if (!slot || event.state === 'Pending') {
      return;
    }
    if (event.kept) {
      this.keep(slot, event.reason ?? null);
      return;
    }
    const replay = this.options.replayReasons?.get(event.task);
    switch (event.state) {
      case 'Running':
      case 'Retrying':
        this.transition(
          slot,
          event.state,
          { reason: replay ?? null, at: new Date(event.at) },
          true
        );
        return;
      case 'NotRun':
        this.transition(slot, 'Cancelled', {
          reason: event.reason ?? 'not run',
          at: new Date(event.at)
        });
        return;
      case 'AwaitingRetry':
      case 'Completed':
      case 'Failed':
      case 'Crashed':
      case 'Cancelled': {
        this.flushStreams(slot, event.attempt);
        if (event.error) {
          this.logError(event.task, event.attempt, event.error);
        }
        const reason =
          event.state === 'AwaitingRetry' && event.retryAt !== undefined
            ? `retry ${event.attempt}/${event.maxRetries} at ${new Date(event.retryAt).toISOString()}`
            : event.state === 'Completed'
              ? // A cache hit ("Cached (from run …)") or why a cached task was not stored.
                (replay ?? event.reason ?? null)
              : event.error?.timedOut
                ? event.error.summary
                : null;
        // Swapped now, not when the write runs: the next attempt's outputs may arrive before that.
        const ended = slot.outputs;
        slot.outputs = new OutputCollector(this.options.outputCapBytes);
        this.transition(
          slot,
          event.state,
          {
            reason,
            attemptError: event.error ? attemptError(event.error) : null,
            at: new Date(event.at),
            ...(event.state === 'AwaitingRetry' &&
              event.retryAt !== undefined && {
                retryAt: new Date(event.retryAt)
              })
          },
          false,
          ended
        );
        return;
      }
    }
  }

  /**
   * An element of a mapped task (`fetch[3]`, mapping.ts) is a task run of its own, made when the run
   * loop reports it: the elements are known only once the iterable was read. Its slot is usable at
   * once (the writes that follow are queued after the one that creates it, which fills in its id);
   * the burst of one task's elements becomes one insert.
   */
  private addElement(name: string): void {
    const element = parseElementTaskName(name);
    const parent = element ? this.tasks.get(element.task) : undefined;
    if (!parent) {
      return;
    }
    const slot: TaskSlot = {
      taskRun: { ...parent.taskRun, id: '', taskName: name, state: 'Pending' },
      state: 'Pending',
      attemptId: null,
      attempt: 0,
      outputs: new OutputCollector(this.options.outputCapBytes),
      streams: new Map()
    };
    this.tasks.set(name, slot);
    if (this.elementBatch) {
      this.elementBatch.names.push(name);
      this.elementBatch.slots.push(slot);
      return;
    }
    const batch = (this.elementBatch = { names: [name], slots: [slot] });
    this.enqueue(async () => {
      if (this.elementBatch === batch) {
        this.elementBatch = null;
      }
      const created = await this.options.store.createTaskRuns(
        this.options.run.id,
        batch.names
      );
      created.forEach((taskRun, i) => {
        batch.slots[i].taskRun = taskRun;
      });
    });
  }

  /**
   * A task kept from the retried run (same kernel): it did not execute here. Straight from Pending to
   * Completed, with no attempt, where the state rules allow it; where they do not (states.ts has no
   * Pending → Completed yet), through one empty attempt, so the rules are still the only gate.
   */
  private keep(slot: TaskSlot, reason: string | null): void {
    if (canTransitionTaskRun('Pending', 'Completed')) {
      this.transition(slot, 'Completed', { reason });
      return;
    }
    this.transition(slot, 'Running', { reason }, true);
    this.transition(
      slot,
      'Completed',
      { reason },
      false,
      new OutputCollector(this.options.outputCapBytes)
    );
  }

  /**
   * Queues a task run's transition. Transitions reported while the store is busy with an earlier
   * write go to it together, in one transaction (transitionTaskRuns), as long as nothing else was
   * queued after them: the order of everything written stays the order it happened.
   */
  private transition(
    slot: TaskSlot,
    to: TaskRunState,
    options: {
      reason: string | null;
      attemptError?: AttemptError | null;
      at?: Date;
      retryAt?: Date;
    },
    begins = false,
    endedOutputs?: OutputCollector
  ): void {
    const step: PendingTransition = {
      slot,
      to,
      options,
      begins,
      endedOutputs
    };
    if (
      this.transitionBatch &&
      this.transitionBatch.length < MAX_TRANSITIONS_PER_BATCH
    ) {
      this.transitionBatch.push(step);
      return;
    }
    const batch: PendingTransition[] = [step];
    this.enqueue(() => this.writeTransitions(batch));
    // After enqueue, which ends the batch before it: later transitions join this one until another
    // write is queued or this one starts.
    this.transitionBatch = batch;
  }

  private async writeTransitions(batch: PendingTransition[]): Promise<void> {
    if (this.transitionBatch === batch) {
      this.transitionBatch = null;
    }
    // Ids are read now, not when queued: an element's task run is made by a write queued before.
    const results = await this.options.store.transitionTaskRuns(
      batch.map(({ slot, to, options }) => ({
        taskRunId: slot.taskRun.id,
        to,
        options
      }))
    );
    // Every slot learns its committed state first, so a failed save below leaves none behind the store.
    const toSave: { attemptId: string; outputs: OutputCollector }[] = [];
    for (const [i, { slot, begins, endedOutputs }] of batch.entries()) {
      const result = results[i];
      slot.state = result.taskRun.state;
      if (begins) {
        slot.attemptId = result.attempt?.id ?? null;
        slot.attempt = result.attempt?.attempt ?? slot.attempt;
      } else if (
        endedOutputs &&
        result.attempt &&
        slot.attemptId === result.attempt.id
      ) {
        // The attempt just ended: its outputs are complete (execute resolves after iopub idle).
        slot.attemptId = null;
        // An attempt is stored with no outputs: one write fewer per silent task.
        if (endedOutputs.outputs().length > 0 || endedOutputs.truncated) {
          toSave.push({ attemptId: result.attempt.id, outputs: endedOutputs });
        }
      }
    }
    for (const { attemptId, outputs } of toSave) {
      await this.options.store.saveAttemptOutputs(
        attemptId,
        outputs.outputs(),
        outputs.truncated
      );
    }
  }

  private flushStreams(slot: TaskSlot, attempt: number): void {
    for (const [stream, splitter] of slot.streams) {
      for (const text of splitter.flush()) {
        this.log({ taskName: slot.taskRun.taskName, attempt, stream, text });
      }
    }
  }

  private logError(task: string, attempt: number, error: RunError): void {
    const lines = error.traceback.length
      ? error.traceback.flatMap(entry => stripAnsi(entry).split('\n'))
      : [error.summary];
    for (const text of lines) {
      this.log({ taskName: task, attempt, stream: 'error', text });
    }
  }

  /** Lines logged between two other writes go to the store as one batch (and one `log` event). */
  /** The line as it is kept (cut when too long), or null once its attempt's log passed the cap. */
  private withinCap(
    line: Omit<NewLogLine, 'flowRunId'>
  ): Omit<NewLogLine, 'flowRunId'> | null {
    const key = `${line.taskName ?? ''}\u0000${line.attempt ?? ''}`;
    let budget = this.logBudgets.get(key);
    if (!budget) {
      budget = { bytes: 0, cut: false };
      this.logBudgets.set(key, budget);
    }
    if (budget.cut) {
      return null;
    }
    let text = line.text;
    if (text.length > MAX_LOG_LINE_CHARS) {
      text =
        text.slice(0, MAX_LOG_LINE_CHARS) +
        ` … [${text.length - MAX_LOG_LINE_CHARS} more characters not kept]`;
    }
    const cap = this.options.logCapBytes ?? DEFAULT_LOG_CAP_BYTES;
    const size = Buffer.byteLength(text, 'utf8');
    if (budget.bytes + size > cap) {
      budget.cut = true;
      return {
        ...line,
        stream: 'stderr',
        text: `[cellflow] the log of this attempt passed ${Math.round(cap / 1024)} KB: the rest of it is not kept`
      };
    }
    budget.bytes += size;
    return text === line.text ? line : { ...line, text };
  }

  private log(input: Omit<NewLogLine, 'flowRunId'>): void {
    const line = this.withinCap(input);
    if (!line) {
      return;
    }
    const full: NewLogLine = {
      ...line,
      flowRunId: this.options.run.id,
      at: new Date()
    };
    if (this.logBatch) {
      this.logBatch.push(full);
      return;
    }
    const batch: NewLogLine[] = [full];
    this.logBatch = batch;
    this.enqueue(async () => {
      if (this.logBatch === batch) {
        this.logBatch = null;
      }
      const rows = await this.options.store.appendLogLines(batch);
      const { run } = this.options;
      await this.options.store.appendEvent({
        workspaceId: run.workspaceId,
        flowId: run.flowId,
        flowRunId: run.id,
        type: 'log',
        payload: {
          lines: rows.map(row => ({
            id: row.id,
            task: row.taskName,
            attempt: row.attempt,
            stream: row.stream,
            text: row.text,
            at: row.at.toISOString()
          }))
        }
      });
    }, false);
  }

  private enqueue(write: () => Promise<void>, sealsLogBatch = true): void {
    if (sealsLogBatch) {
      // Later lines must follow this write, in the store and in the event stream.
      this.logBatch = null;
    }
    // Likewise later transitions: they go after this write, not into a batch before it.
    this.transitionBatch = null;
    this.tail = this.tail.then(async () => {
      if (this.failure !== null) {
        return;
      }
      try {
        await write();
      } catch (error) {
        this.failure = error;
        this.options.onFailure(error);
        return;
      }
      this.notify();
    });
  }

  private notify(): void {
    try {
      this.options.hub?.notify(this.options.run.workspaceId);
    } catch {
      // A broken listener must not break the run.
    }
  }
}

/** One cell's execution within an attempt's outputs (OutputCollector's segments). */
function segmentKey(place: OutputPlace): string {
  return `${place.attempt ?? ''}\u0000${place.source}\u0000${place.cellId ?? ''}`;
}

function attemptError(error: RunError): AttemptError {
  return { name: error.ename, value: error.evalue, traceback: error.traceback };
}

/** Outputs of the executed notebook's cells, keyed by cell id (a task cell keeps its last attempt). */
export class CellOutputs {
  private readonly cells = new Map<
    string,
    { attempt: number; outputs: OutputCollector }
  >();

  constructor(private readonly capBytes?: number) {}

  /**
   * Outputs an earlier run left on a cell this run does not execute (a task kept from the retried
   * run). Any output this run produces for the cell replaces them.
   */
  seed(cellId: string, outputs: readonly KernelOutput[]): void {
    const collector = new OutputCollector(this.capBytes);
    for (const output of outputs) {
      collector.add(output);
    }
    this.cells.set(cellId, { attempt: -1, outputs: collector });
  }

  add(event: OutputEvent): void {
    if (event.cellId === null) {
      return;
    }
    const key = outputsKey(event);
    const attempt = event.source === 'task' ? (event.attempt ?? 1) : 0;
    let cell = this.cells.get(key);
    if (!cell || cell.attempt < attempt) {
      cell = { attempt, outputs: new OutputCollector(this.capBytes) };
      this.cells.set(key, cell);
    }
    cell.outputs.add(event.output);
  }

  /** clear_output and display updates, on the cell's outputs of the same execution. */
  change(event: OutputsClearedEvent | OutputUpdatedEvent): void {
    if (event.cellId === null) {
      return;
    }
    const attempt = event.source === 'task' ? (event.attempt ?? 1) : 0;
    const cell = this.cells.get(outputsKey(event));
    if (!cell || cell.attempt !== attempt) {
      return;
    }
    if (event.type === 'outputs-cleared') {
      cell.outputs.clear();
    } else {
      cell.outputs.update(event.index, event.output);
    }
  }

  /** A mapped task's cell: each element's last attempt, in element order. */
  get(cellId: string): KernelOutput[] | undefined {
    const elements = [...this.cells.entries()]
      .map(([key, cell]) => ({ index: elementIndexOf(key, cellId), cell }))
      .filter(e => e.index !== null)
      .sort((a, b) => a.index! - b.index!);
    if (elements.length > 0) {
      return elements.flatMap(e => e.cell.outputs.outputs());
    }
    return this.cells.get(cellId)?.outputs.outputs();
  }
}

/**
 * Where CellOutputs keeps an execution's outputs: its cell, or for an element of a mapped task (all
 * on the task's cell, each with its own attempts) the cell and the element's index.
 */
function outputsKey(place: OutputPlace): string {
  const element = place.task ? parseElementTaskName(place.task) : null;
  return element
    ? `${place.cellId}\u0000${element.index}`
    : (place.cellId ?? '');
}

function elementIndexOf(key: string, cellId: string): number | null {
  const prefix = `${cellId}\u0000`;
  return key.startsWith(prefix) ? Number(key.slice(prefix.length)) : null;
}
