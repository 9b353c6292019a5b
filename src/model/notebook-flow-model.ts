import { ISignal, Signal } from '@lumino/signaling';

import { compileNotebook } from '../flow/compiler.js';
import { effectiveTaskSettings, EffectiveTask } from '../flow/magic.js';
import { parseElementTaskName } from '../flow/mapping-options.js';
import type { RunEvent, RunState } from '../flow/runner.js';
import type { CompileResult, FlowProblem, TaskSpec } from '../flow/spec.js';
import {
  applyTaskEvent,
  ENDED_TASK_STATES,
  IChipView,
  ITaskLiveState
} from './chip-state.js';

/** What changed live: one task's state (its chip alone needs redrawing), or everything (task null). */
export interface ILiveChange {
  task: string | null;
}

/** A notebook cell as the model reads it: nbformat JSON, loosely. */
export interface ICellJSON {
  id?: string;
  cell_type: string;
  source: string | string[];
  metadata?: Record<string, unknown>;
}

/**
 * What Cellflow knows about one notebook: which cells are tasks (and their settings), the compiled
 * flow or its problems, and the live state of each task in the latest run. Plain TypeScript with
 * Lumino signals, fed by the notebook widgets, read by the chips and the side panel.
 */
export class NotebookFlowModel {
  private _tasks = new Map<string, EffectiveTask>();
  private _compiled: CompileResult | null = null;
  private _live = new Map<string, ITaskLiveState>();
  private _previous = new Map<string, ITaskLiveState>();
  private _runState: RunState | string | null = null;
  private _selectedTask: string | null = null;
  private _changed = new Signal<this, void>(this);
  private _liveChanged = new Signal<this, ILiveChange>(this);
  private _isDisposed = false;

  /** Emitted when the cells, the tasks or the compiled flow changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted when a task's live state or the run's state changed. */
  get liveChanged(): ISignal<this, ILiveChange> {
    return this._liveChanged;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Replace the notebook's content (all of its nbformat JSON). */
  setNotebook(
    notebook: { cells: ICellJSON[]; metadata?: unknown },
    options: { path?: string } = {}
  ): void {
    this._tasks.clear();
    notebook.cells.forEach((cell, index) => {
      if (cell.cell_type !== 'code') {
        return;
      }
      const task = effectiveTaskSettings(cell);
      if (task.isTask) {
        this._tasks.set(cellKey(cell, index), task);
      }
    });
    const metadata = (notebook.metadata ?? {}) as Record<string, unknown>;
    // The one naming rule (src/flow/flow-name.ts): metadata.cellflow.name, else the file name.
    this._compiled = compileNotebook(
      { nbformat: 4, nbformat_minor: 5, metadata, cells: notebook.cells },
      options.path === undefined ? {} : { path: options.path }
    );
    this._changed.emit();
  }

  /** The task a cell defines, or null when it is not a task. */
  taskOfCell(cellId: string): EffectiveTask | null {
    return this._tasks.get(cellId) ?? null;
  }

  /** The compiled flow (a spec or its problems). */
  get compiled(): CompileResult | null {
    return this._compiled;
  }

  /** The compiler's problems that concern one cell, as messages. */
  problemsOfCell(cellId: string): FlowProblem[] {
    const compiled = this._compiled;
    return compiled && !compiled.ok
      ? compiled.problems.filter(p => p.cellId === cellId)
      : [];
  }

  /** What the chip of a task cell shows, or null when the cell is not a task. */
  chipView(cellId: string): IChipView | null {
    const task = this._tasks.get(cellId);
    if (!task) {
      return this.wholeNotebookChip(cellId);
    }
    const name = task.name ?? '';
    return {
      name,
      settings: task.settings,
      problems: [
        ...task.problems.map(p => p.message),
        ...this.problemsOfCell(cellId)
          .map(p => p.message)
          .filter(m => !task.problems.some(p => m.includes(p.message)))
      ],
      // A live state belongs to the cell that ran: while two cells claim one name (a problem on
      // both), neither shows a state that may be the other's.
      live: this.isDuplicateName(name) ? null : (this._live.get(name) ?? null),
      previous: this.isDuplicateName(name) ? null : this.previousOf(name),
      ...(task.map && {
        map: task.map,
        elements: this.isDuplicateName(name) ? [] : this.elementsOf(name)
      })
    };
  }

  /** A mapped task's elements in the latest run (`fetch[0]`, ...), in element order. */
  elementsOf(task: string): ITaskLiveState[] {
    const elements: ITaskLiveState[] = [];
    for (const [name, live] of this._live) {
      const element = parseElementTaskName(name);
      if (element?.task === task) {
        elements[element.index] = live;
      }
    }
    return elements.filter(Boolean);
  }

  private isDuplicateName(name: string): boolean {
    let count = 0;
    for (const task of this._tasks.values()) {
      if (task.name === name && ++count > 1) {
        return true;
      }
    }
    return false;
  }

  /**
   * A notebook without %%task cells runs as one task of all its code cells: its chip sits on the
   * first of them.
   */
  private wholeNotebookChip(cellId: string): IChipView | null {
    const whole = this.wholeNotebookTask();
    if (!whole || whole.cellId !== cellId) {
      return null;
    }
    const { retries, retryDelay, backoff, timeout } = whole;
    return {
      name: whole.name,
      settings: { retries, retryDelay, backoff, timeout },
      problems: [],
      live: this._live.get(whole.name) ?? null,
      previous: this.previousOf(whole.name)
    };
  }

  private wholeNotebookTask(): TaskSpec | null {
    const compiled = this._compiled;
    const task = compiled?.ok ? compiled.spec.tasks[0] : undefined;
    return task?.cells ? task : null;
  }

  get runState(): RunState | string | null {
    return this._runState;
  }

  /** The task the user picked (by clicking its chip); the side panel follows it. */
  get selectedTask(): string | null {
    return this._selectedTask;
  }

  set selectedTask(name: string | null) {
    if (name !== this._selectedTask) {
      this._selectedTask = name;
      this._changed.emit();
    }
  }

  /** How a task ended in an earlier run, while the latest run has not ended it. */
  private previousOf(name: string): ITaskLiveState | null {
    const live = this._live.get(name);
    if (live && ENDED_TASK_STATES.includes(live.state)) {
      return null;
    }
    return this._previous.get(name) ?? null;
  }

  /** A new run starts: its tasks have no state yet; how each ended in the run before is kept. */
  resetLive(): void {
    for (const [task, live] of this._live) {
      if (ENDED_TASK_STATES.includes(live.state)) {
        this._previous.set(task, live);
      }
    }
    this._live.clear();
    this._runState = null;
    this._liveChanged.emit({ task: null });
  }

  /** Fold an event of the run loop into the live states. */
  applyRunEvent(event: RunEvent): void {
    if (event.type === 'task-state') {
      this._live.set(
        event.task,
        applyTaskEvent(this._live.get(event.task) ?? null, event)
      );
      this._liveChanged.emit({ task: event.task });
    } else if (event.type === 'run-state') {
      this._runState = event.state;
      this._liveChanged.emit({ task: null });
    }
  }

  /** Every task of the flow shows the same run-level state (a server run Scheduled, Late or Pending). */
  setAllTasks(state: ITaskLiveState['state'], at: number): void {
    const compiled = this._compiled;
    if (!compiled?.ok) {
      return;
    }
    for (const task of compiled.spec.tasks) {
      this._live.set(task.name, {
        state,
        attempt: 0,
        maxAttempts: task.retries + 1,
        since: at
      });
    }
    this._liveChanged.emit({ task: null });
  }

  /** Set the run's overall state (shown in the notebook's toolbar). */
  setRunState(state: RunState | string | null): void {
    this._runState = state;
    this._liveChanged.emit({ task: null });
  }

  /** The cell id of a task (or of a mapped task's element: its task's cell), for finding its chip. */
  cellOfTask(task: string): string | null {
    task = parseElementTaskName(task)?.task ?? task;
    for (const [cellId, effective] of this._tasks) {
      if (effective.name === task) {
        return cellId;
      }
    }
    const whole = this.wholeNotebookTask();
    return whole?.name === task ? whole.cellId : null;
  }

  liveState(task: string): ITaskLiveState | null {
    return this._live.get(task) ?? null;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    Signal.clearData(this);
  }
}

/** A cell's id; nbformat < 4.5 cells have none, so the compiler's index-based id is used. */
export function cellKey(cell: ICellJSON, index: number): string {
  return cell.id ?? `cell-${index}`;
}
