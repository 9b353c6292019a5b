import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import type { NotebookFlow } from '../notebook/notebook-flow.js';

/**
 * The notebook toolbar's view of the flow's latest run: "Flow: Running", "Flow: Completed"...,
 * empty while no run is known. Follows the notebook's flow once it exists.
 */
export class RunStateItem extends Widget {
  constructor(
    flow: Promise<NotebookFlow | null>,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-CellflowRunState');
    this.node.setAttribute('role', 'status');
    void flow.then(found => {
      if (found && !this.isDisposed) {
        this._flow = found;
        found.model.liveChanged.connect(this.render, this);
        this.render();
      }
    });
  }

  dispose(): void {
    this._flow?.model.liveChanged.disconnect(this.render, this);
    super.dispose();
  }

  private render(): void {
    const state = this._flow?.model.runState ?? null;
    this.node.dataset.state = state ?? 'none';
    this.node.textContent = state ? this.trans.__('Flow: %1', state) : '';
    this.node.title = state
      ? this.trans.__('State of the flow’s latest run')
      : '';
  }

  private _flow: NotebookFlow | null = null;
}
