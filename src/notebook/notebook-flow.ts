import { Cell, ICellModel, ICodeCellModel } from '@jupyterlab/cells';
import * as nbformat from '@jupyterlab/nbformat';
import { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import { PanelLayout } from '@lumino/widgets';

import type { KernelOutput } from '../flow/kernel.js';
import {
  firstLine,
  isTaskMagicLine,
  metadataFromMagic
} from '../flow/magic.js';
import { runFlow, RunEvent, RunResult } from '../flow/runner.js';
import type { FlowSpec } from '../flow/spec.js';
import {
  ICellJSON,
  ILiveChange,
  NotebookFlowModel
} from '../model/notebook-flow-model.js';
import { TaskChip } from '../widgets/task-chip.js';
import { ConnectionFlowKernel } from '../flow/connection-kernel.js';
import { registerTaskMagic } from './magic-registration.js';

/** How long edits settle before the flow is recompiled: typing stays smooth on big notebooks. */
const REFRESH_DELAY_MS = 60;

/**
 * Cellflow on one open notebook: keeps task metadata in step with `%%task` lines, compiles the flow
 * into its model, puts a chip on every task cell, registers the `%%task` magic in the kernel, and runs
 * the flow in the notebook's own kernel ("Run here").
 */
export class NotebookFlow implements IDisposable {
  readonly model = new NotebookFlowModel();

  constructor(
    readonly panel: NotebookPanel,
    private readonly options: NotebookFlow.IOptions
  ) {
    const notebook = panel.content;
    notebook.modelContentChanged.connect(this.scheduleRefresh, this);
    this.model.changed.connect(this.renderChips, this);
    this.model.liveChanged.connect(this.onLiveChanged, this);
    panel.sessionContext.statusChanged.connect(this.onKernelStatus, this);
    panel.sessionContext.kernelChanged.connect(this.onKernelChanged, this);
    void panel.context.ready.then(() => {
      if (!this._isDisposed) {
        this.rememberMagicLines();
        this.refresh();
      }
    });
    void panel.sessionContext.ready.then(() => this.registerMagic());
  }

  /** Emitted when a run here starts or ends. */
  get runningChanged(): ISignal<this, boolean> {
    return this._runningChanged;
  }

  get isRunning(): boolean {
    return this._abort !== null;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Run the flow in the notebook's own kernel, task by task, as Prefect's `flow.run()` does in a
   * script. Resolves with the run's result, or null when the flow does not compile or no kernel runs.
   */
  async runHere(): Promise<RunResult | null> {
    if (this._abort) {
      return null;
    }
    this.refresh();
    const compiled = this.model.compiled;
    const kernel = this.panel.sessionContext.session?.kernel;
    if (!compiled || !compiled.ok || !kernel) {
      return null;
    }
    const spec = compiled.spec;
    const abort = new AbortController();
    this._abort = abort;
    this._runningChanged.emit(true);
    this.model.resetLive();
    // Per cell: the outputs of its latest execution in this run, as the run loop built them.
    const clearedCells = new Map<string, KernelOutput[]>();
    try {
      await registerTaskMagic(kernel);
      const defaults = Object.fromEntries(
        spec.parameters.map(p => [p.name, p.default])
      );
      // The runner injects only what the parameters cell does not set itself (metadata-only ones).
      return await runFlow(spec, new ConnectionFlowKernel(kernel), {
        parameters: defaults,
        signal: abort.signal,
        onEvent: event => this.onRunEvent(event, clearedCells, spec)
      });
    } finally {
      this._abort = null;
      this._runningChanged.emit(false);
    }
  }

  /** Stop a run here: the running task is interrupted and ends Cancelled. */
  stop(): void {
    this._abort?.abort();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this.stop();
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
    }
    for (const chip of this._chips.values()) {
      chip.dispose();
    }
    this._chips.clear();
    this.model.dispose();
    Signal.clearData(this);
  }

  private onRunEvent(
    event: RunEvent,
    clearedCells: Map<string, KernelOutput[]>,
    spec: FlowSpec
  ): void {
    this.model.applyRunEvent(event);
    // Show each cell's outputs in the cell, as running it by hand would; a retry starts afresh.
    if (
      event.type === 'task-state' &&
      (event.state === 'Running' || event.state === 'Retrying')
    ) {
      // A task of several cells (a notebook without %%task cells) clears them all.
      const task = spec.tasks.find(t => t.name === event.task);
      for (const { cellId } of task?.cells ?? [event]) {
        this.cellModel(cellId)?.outputs.clear();
        clearedCells.set(cellId, []);
      }
    } else if (event.type === 'output' && event.cellId) {
      const cell = this.cellModel(event.cellId);
      if (!cell) {
        return;
      }
      let shown = clearedCells.get(event.cellId);
      if (!shown) {
        cell.outputs.clear();
        shown = [];
        clearedCells.set(event.cellId, shown);
      }
      shown.push(event.output);
      addOutput(cell, event.output);
    } else if (event.type === 'outputs-cleared' && event.cellId) {
      // clear_output, applied by the run loop (output-area.ts) as nbclient applies it.
      this.cellModel(event.cellId)?.outputs.clear();
      clearedCells.set(event.cellId, []);
    } else if (event.type === 'output-updated' && event.cellId) {
      // A display updated by its display_id. The cell's model merges consecutive streams, so its
      // indices are not the run's: the cell is redrawn from the run's list. A display of an earlier
      // execution the cell no longer shows is left alone.
      const cell = this.cellModel(event.cellId);
      const shown = clearedCells.get(event.cellId);
      if (!cell || !shown || event.index >= shown.length) {
        return;
      }
      shown[event.index] = event.output;
      cell.outputs.clear();
      for (const output of shown) {
        addOutput(cell, output);
      }
    }
  }

  private cellModel(cellId: string): ICodeCellModel | null {
    for (const cell of this.codeCells()) {
      if (cell.id === cellId) {
        return cell;
      }
    }
    return null;
  }

  private scheduleRefresh(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
    }
    this._timer = window.setTimeout(() => {
      this._timer = null;
      this.refresh();
    }, REFRESH_DELAY_MS);
  }

  /** Mirror `%%task` lines into metadata, then recompile the model from the notebook's JSON. */
  refresh(): void {
    const notebookModel = this.panel.content.model;
    if (this._isDisposed || !notebookModel) {
      return;
    }
    this.syncMagicLines();
    const json = notebookModel.toJSON() as unknown as {
      cells: ICellJSON[];
      metadata: unknown;
    };
    this.model.setNotebook(json, { path: this.panel.context.localPath });
  }

  /**
   * Note each cell's first line as the notebook opened: opening a notebook never changes it, so a
   * `%%task` line is mirrored into metadata only once the user changes it (or adds the cell).
   */
  private rememberMagicLines(): void {
    for (const cell of this.codeCells()) {
      this._seenLine.set(cell, firstLine(cell.sharedModel.getSource()));
    }
  }

  /**
   * Where the user changed a `%%task` line, it wins for the fields it names and the metadata mirrors
   * it (so nbformat tools and git see the same task); removing the line unmarks the task. Lines as
   * they were when the notebook opened are left alone: the compiler reads them either way.
   */
  private syncMagicLines(): void {
    for (const cell of this.codeCells()) {
      const line = firstLine(cell.sharedModel.getSource());
      // A cell added since the notebook opened counts as having had no line.
      const seen = this._seenLine.get(cell) ?? '';
      this._seenLine.set(cell, line);
      if (line === seen) {
        continue;
      }
      const hasMagic = isTaskMagicLine(line);
      if (!hasMagic && !isTaskMagicLine(seen)) {
        continue;
      }
      const existing = cell.getMetadata('cellflow');
      const next = metadataFromMagic(hasMagic ? line : '', existing);
      if (JSON.stringify(next) !== JSON.stringify(existing ?? {})) {
        if (Object.keys(next).length === 0) {
          cell.deleteMetadata('cellflow');
        } else {
          cell.setMetadata('cellflow', next);
        }
      }
    }
  }

  private *codeCells(): Iterable<ICodeCellModel> {
    const cells = this.panel.content.model?.cells;
    if (!cells) {
      return;
    }
    for (let i = 0; i < cells.length; i++) {
      const cell = cells.get(i);
      if (cell.type === 'code') {
        yield cell as ICodeCellModel;
      }
    }
  }

  /**
   * One task's state changed: redraw its chip alone, at once (a burst of events must not redraw every
   * chip each time); anything else redraws all chips.
   */
  private onLiveChanged(_: NotebookFlowModel, change: ILiveChange): void {
    const cellId = change.task ? this.model.cellOfTask(change.task) : null;
    const chip = cellId ? this._chips.get(cellId) : undefined;
    const view = cellId ? this.model.chipView(cellId) : null;
    if (chip && !chip.isDisposed && view) {
      chip.view = view;
    } else {
      this.renderChips();
    }
  }

  /** Put a chip on every task cell, take it off the others. */
  private renderChips(): void {
    if (this._isDisposed) {
      return;
    }
    const seen = new Set<string>();
    for (const cell of this.panel.content.widgets) {
      const id = cell.model.id;
      const view = this.model.chipView(id);
      let chip = this._chips.get(id);
      if (!view) {
        continue;
      }
      seen.add(id);
      if (!chip || chip.isDisposed) {
        chip = new TaskChip({
          trans: this.options.trans,
          onClick: task => this.options.onSelectTask(this, task)
        });
        this._chips.set(id, chip);
      }
      if (chip.parent !== cell) {
        insertChip(cell, chip);
      }
      chip.view = view;
    }
    for (const [id, chip] of this._chips) {
      if (!seen.has(id)) {
        chip.dispose();
        this._chips.delete(id);
      }
    }
  }

  private onKernelChanged(): void {
    void this.panel.sessionContext.ready.then(() => this.registerMagic());
  }

  private onKernelStatus(): void {
    // A restarted kernel forgets the magic: teach it again once it is idle.
    const status = this.panel.sessionContext.kernelDisplayStatus;
    if (status === 'restarting' || status === 'autorestarting') {
      this._needsMagic = true;
    } else if (status === 'idle' && this._needsMagic) {
      this._needsMagic = false;
      void this.registerMagic();
    }
  }

  private async registerMagic(): Promise<void> {
    const kernel = this.panel.sessionContext.session?.kernel;
    if (!kernel || this._isDisposed) {
      return;
    }
    try {
      await registerTaskMagic(kernel);
    } catch (error) {
      console.warn('Cellflow: could not register the %%task magic', error);
    }
  }

  private _isDisposed = false;
  private _timer: number | null = null;
  private _abort: AbortController | null = null;
  private _needsMagic = false;
  private _chips = new Map<string, TaskChip>();
  private _seenLine = new WeakMap<ICellModel, string>();
  private _runningChanged = new Signal<this, boolean>(this);
}

export namespace NotebookFlow {
  export interface IOptions {
    trans: TranslationBundle;
    /** The user clicked a task's chip. */
    onSelectTask: (flow: NotebookFlow, task: string) => void;
  }
}

/** The chip sits on its own line above the cell's input, under the cell's header. */
function insertChip(cell: Cell, chip: TaskChip): void {
  const layout = cell.layout as PanelLayout;
  layout.insertWidget(1, chip);
}

function addOutput(cell: ICodeCellModel, output: KernelOutput): void {
  cell.outputs.add(output as unknown as nbformat.IOutput);
}
