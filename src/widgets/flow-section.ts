import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { describeLiveState, describeSettings } from '../model/chip-state.js';
import type { NotebookFlow } from '../notebook/notebook-flow.js';
import type { ICellflowNotebooks } from '../tokens.js';

/**
 * The panel's view of the active notebook's flow: its tasks in run order with their upstream tasks,
 * settings and live state, and the compiler's problems, each of which scrolls to its cell on click.
 */
export class FlowSection extends Widget {
  constructor(
    private readonly notebooks: ICellflowNotebooks,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-CellflowFlow');
    notebooks.currentChanged.connect(this.follow, this);
    this.follow(notebooks, notebooks.current);
  }

  dispose(): void {
    this.follow(this.notebooks, null);
    this.notebooks.currentChanged.disconnect(this.follow, this);
    super.dispose();
  }

  private follow(_: unknown, flow: NotebookFlow | null): void {
    if (this._flow) {
      this._flow.model.changed.disconnect(this.render, this);
      this._flow.model.liveChanged.disconnect(this.render, this);
    }
    this._flow = flow && !flow.isDisposed ? flow : null;
    if (this._flow) {
      this._flow.model.changed.connect(this.render, this);
      this._flow.model.liveChanged.connect(this.render, this);
    }
    this.render();
  }

  private render(): void {
    const trans = this.trans;
    const tr = (text: string, ...args: string[]) => trans.__(text, ...args);
    const node = this.node;
    node.replaceChildren();
    const flow = this._flow;
    if (!flow) {
      node.append(
        paragraph(
          trans.__('Open a notebook to see its flow.'),
          'jp-CellflowFlow-empty'
        )
      );
      return;
    }
    const title = document.createElement('h3');
    title.className = 'jp-CellflowFlow-title';
    title.textContent = trans.__('Flow of %1', flow.panel.context.localPath);
    node.append(title);

    const compiled = flow.model.compiled;
    if (!compiled) {
      return;
    }
    if (!compiled.ok) {
      const list = document.createElement('ul');
      list.className = 'jp-CellflowFlow-problems';
      list.setAttribute('aria-label', trans.__('Problems'));
      for (const problem of compiled.problems) {
        const item = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'jp-CellflowFlow-problem';
        button.textContent = problem.message;
        button.addEventListener('click', () =>
          this.scrollToCell(problem.cellId)
        );
        item.append(button);
        list.append(item);
      }
      node.append(list);
      return;
    }
    const spec = compiled.spec;
    const list = document.createElement('ol');
    list.className = 'jp-CellflowFlow-tasks';
    list.setAttribute('aria-label', trans.__('Tasks'));
    for (const task of spec.tasks) {
      const item = document.createElement('li');
      item.className = 'jp-CellflowFlow-task';
      item.dataset.task = task.name;
      item.classList.toggle(
        'jp-mod-selected',
        flow.model.selectedTask === task.name
      );
      const name = document.createElement('button');
      name.type = 'button';
      name.className = 'jp-CellflowFlow-taskName';
      name.textContent = task.name;
      name.addEventListener('click', () => {
        flow.model.selectedTask = task.name;
        this.scrollToCell(task.cellId);
      });
      item.append(name);
      const details = [
        task.upstream.length
          ? trans.__('after %1', task.upstream.join(', '))
          : '',
        describeSettings(task, tr)
      ].filter(Boolean);
      if (details.length) {
        item.append(
          paragraph(details.join(' · '), 'jp-CellflowFlow-taskDetails')
        );
      }
      const live = flow.model.liveState(task.name);
      if (live) {
        const state = paragraph(
          describeLiveState(live, Date.now(), tr),
          'jp-CellflowFlow-taskState'
        );
        state.dataset.state = live.state;
        item.append(state);
      }
      list.append(item);
    }
    node.append(list);
    if (spec.parameters.length) {
      node.append(
        paragraph(
          trans.__(
            'Parameters: %1',
            spec.parameters.map(p => `${p.name} (${p.type})`).join(', ')
          ),
          'jp-CellflowFlow-parameters'
        )
      );
    }
  }

  private scrollToCell(cellId: string | undefined): void {
    const notebook = this._flow?.panel.content;
    if (!notebook || !cellId) {
      return;
    }
    const index = notebook.widgets.findIndex(cell => cell.model.id === cellId);
    if (index >= 0) {
      notebook.activeCellIndex = index;
      void notebook.scrollToItem(index);
    }
  }

  private _flow: NotebookFlow | null = null;
}

function paragraph(text: string, className: string): HTMLElement {
  const p = document.createElement('p');
  p.className = className;
  p.textContent = text;
  return p;
}
