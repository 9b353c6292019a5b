import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import type { ICellflowNotebooks } from '../tokens.js';
import { NotebookFlow } from './notebook-flow.js';

/** One NotebookFlow per open notebook, created when the notebook opens and disposed with it. */
export class NotebookFlowTracker implements ICellflowNotebooks, IDisposable {
  constructor(
    private readonly notebooks: INotebookTracker,
    private readonly trans: TranslationBundle
  ) {
    notebooks.widgetAdded.connect(this.onNotebookAdded, this);
    notebooks.currentChanged.connect(this.onCurrentChanged, this);
    notebooks.forEach(panel => this.onNotebookAdded(notebooks, panel));
  }

  get current(): NotebookFlow | null {
    const panel = this.notebooks.currentWidget;
    return panel ? (this._flows.get(panel) ?? null) : null;
  }

  get currentChanged(): ISignal<this, NotebookFlow | null> {
    return this._currentChanged;
  }

  get taskSelected(): ISignal<this, { flow: NotebookFlow; task: string }> {
    return this._taskSelected;
  }

  flowOf(panel: NotebookPanel): NotebookFlow | null {
    return this._flows.get(panel) ?? null;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    for (const flow of this._flows.values()) {
      flow.dispose();
    }
    this._flows.clear();
    Signal.clearData(this);
  }

  private onNotebookAdded(_: INotebookTracker, panel: NotebookPanel): void {
    if (this._flows.has(panel)) {
      return;
    }
    const flow = new NotebookFlow(panel, {
      trans: this.trans,
      onSelectTask: (owner, task) => {
        owner.model.selectedTask = task;
        this._taskSelected.emit({ flow: owner, task });
      }
    });
    this._flows.set(panel, flow);
    panel.disposed.connect(() => {
      flow.dispose();
      this._flows.delete(panel);
    });
    if (panel === this.notebooks.currentWidget) {
      this._currentChanged.emit(flow);
    }
  }

  private onCurrentChanged(): void {
    this._currentChanged.emit(this.current);
  }

  private _flows = new Map<NotebookPanel, NotebookFlow>();
  private _isDisposed = false;
  private _currentChanged = new Signal<this, NotebookFlow | null>(this);
  private _taskSelected = new Signal<
    this,
    { flow: NotebookFlow; task: string }
  >(this);
}
