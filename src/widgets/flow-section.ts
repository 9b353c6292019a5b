import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { describeLiveState, describeSettings } from '../model/chip-state.js';
import { layoutDag } from '../model/dag-layout.js';
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
    if (this._frame !== null) {
      cancelAnimationFrame(this._frame);
    }
    this.tick([]);
    this.follow(this.notebooks, null);
    this.notebooks.currentChanged.disconnect(this.follow, this);
    super.dispose();
  }

  private follow(_: unknown, flow: NotebookFlow | null): void {
    if (this._flow) {
      this._flow.model.changed.disconnect(this.render, this);
      this._flow.model.liveChanged.disconnect(this.renderSoon, this);
    }
    this._flow = flow && !flow.isDisposed ? flow : null;
    if (this._flow) {
      this._flow.model.changed.connect(this.render, this);
      this._flow.model.liveChanged.connect(this.renderSoon, this);
    }
    this.render();
  }

  /** Live states arrive in bursts: redraw the section once per frame, not once per event. */
  private renderSoon(): void {
    if (this._frame === null) {
      this._frame = requestAnimationFrame(() => {
        this._frame = null;
        this.render();
      });
    }
  }

  private render(): void {
    if (this._frame !== null) {
      cancelAnimationFrame(this._frame);
      this._frame = null;
    }
    const trans = this.trans;
    const tr = (text: string, ...args: string[]) => trans.__(text, ...args);
    const node = this.node;
    node.replaceChildren();
    this.tick([]);
    const ticking: { node: HTMLElement; task: string }[] = [];
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
    // A notebook without %%task cells runs as one task: say so (the compiler's note), not refuse.
    for (const warning of compiled.warnings) {
      if (warning.code === 'whole-notebook') {
        node.append(paragraph(warning.message, 'jp-CellflowFlow-note'));
      }
    }
    node.append(
      taskGraph(
        spec.tasks,
        name => flow.model.liveState(name)?.state ?? null,
        name => {
          flow.model.selectedTask = name;
          const task = spec.tasks.find(t => t.name === name);
          this.scrollToCell(task?.cellId);
        }
      )
    );
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
        describeSettings(task, tr, task.map)
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
        if (TICKING_STATES.includes(live.state)) {
          ticking.push({ node: state, task: task.name });
        }
      }
      list.append(item);
    }
    node.append(list);
    this.tick(ticking);
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

  /**
   * Running and Retrying count up, and a retry counts down to its next attempt: their lines are
   * updated every second (only their text, not the whole section) while any is shown.
   */
  private tick(lines: { node: HTMLElement; task: string }[]): void {
    this._ticking = lines;
    if (lines.length === 0 && this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    } else if (lines.length > 0 && this._timer === null) {
      this._timer = window.setInterval(() => {
        const tr = (text: string, ...args: string[]) =>
          this.trans.__(text, ...args);
        for (const line of this._ticking) {
          const live = this._flow?.model.liveState(line.task);
          if (live) {
            line.node.textContent = describeLiveState(live, Date.now(), tr);
          }
        }
      }, 1000);
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
  private _frame: number | null = null;
  private _timer: number | null = null;
  private _ticking: { node: HTMLElement; task: string }[] = [];
}

/** The states whose line shows a time that moves. */
const TICKING_STATES = ['Running', 'Retrying', 'AwaitingRetry'];

const SVG = 'http://www.w3.org/2000/svg';
const NODE_W = 90;
const NODE_H = 22;
const GAP_X = 10;
const GAP_Y = 18;

/** The flow's tasks as a graph (layers top to bottom), each node coloured by its live state. */
function taskGraph(
  tasks: { name: string; upstream: string[] }[],
  stateOf: (task: string) => string | null,
  onClick: (task: string) => void
): SVGSVGElement {
  const layout = layoutDag(tasks);
  const width = Math.max(1, layout.width) * (NODE_W + GAP_X) - GAP_X;
  const height = Math.max(1, layout.layers) * (NODE_H + GAP_Y) - GAP_Y;
  const svg = document.createElementNS(SVG, 'svg');
  svg.classList.add('jp-CellflowGraph');
  svg.setAttribute('viewBox', `-2 -2 ${width + 4} ${height + 4}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', tasks.map(t => t.name).join(', '));
  svg.style.maxHeight = `${height + 4}px`;
  const centre = new Map<string, { x: number; y: number }>();
  for (const node of layout.nodes) {
    // Centre each layer's nodes across the widest layer.
    const offset = ((layout.width - node.layerSize) * (NODE_W + GAP_X)) / 2;
    centre.set(node.name, {
      x: offset + node.index * (NODE_W + GAP_X) + NODE_W / 2,
      y: node.layer * (NODE_H + GAP_Y) + NODE_H / 2
    });
  }
  for (const edge of layout.edges) {
    const from = centre.get(edge.from)!;
    const to = centre.get(edge.to)!;
    const path = document.createElementNS(SVG, 'path');
    const y1 = from.y + NODE_H / 2;
    const y2 = to.y - NODE_H / 2;
    const mid = (y1 + y2) / 2;
    path.setAttribute(
      'd',
      `M${from.x},${y1} C${from.x},${mid} ${to.x},${mid} ${to.x},${y2}`
    );
    path.classList.add('jp-CellflowGraph-edge');
    svg.append(path);
  }
  for (const node of layout.nodes) {
    const { x, y } = centre.get(node.name)!;
    const group = document.createElementNS(SVG, 'g');
    group.classList.add('jp-CellflowGraph-node');
    group.dataset.task = node.name;
    group.dataset.state = stateOf(node.name) ?? 'none';
    group.addEventListener('click', () => onClick(node.name));
    const rect = document.createElementNS(SVG, 'rect');
    rect.setAttribute('x', String(x - NODE_W / 2));
    rect.setAttribute('y', String(y - NODE_H / 2));
    rect.setAttribute('width', String(NODE_W));
    rect.setAttribute('height', String(NODE_H));
    rect.setAttribute('rx', '4');
    const label = document.createElementNS(SVG, 'text');
    label.setAttribute('x', String(x));
    label.setAttribute('y', String(y));
    label.textContent =
      node.name.length > 12 ? `${node.name.slice(0, 11)}…` : node.name;
    const title = document.createElementNS(SVG, 'title');
    title.textContent = node.name;
    group.append(rect, label, title);
    svg.append(group);
  }
  return svg;
}

function paragraph(text: string, className: string): HTMLElement {
  const p = document.createElement('p');
  p.className = className;
  p.textContent = text;
  return p;
}
