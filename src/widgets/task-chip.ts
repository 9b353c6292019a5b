import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import {
  describeLiveState,
  describeMapProgress,
  describePreviousState,
  describeSettings,
  IChipView
} from '../model/chip-state.js';

/**
 * The chip on a task cell: the task's name, its retries and timeout at a glance, and the live state of
 * the task in the latest run. Clicking it selects the task (see CommandIDs.selectTask).
 */
export class TaskChip extends Widget {
  constructor(options: TaskChip.IOptions) {
    super({ node: document.createElement('button') });
    this._trans = options.trans;
    this._onClick = options.onClick;
    this.addClass('jp-CellflowChip');
    const node = this.node as HTMLButtonElement;
    node.type = 'button';
    this._name.className = 'jp-CellflowChip-name';
    this._settings.className = 'jp-CellflowChip-settings';
    this._state.className = 'jp-CellflowChip-state';
    this._progress.className = 'jp-CellflowChip-progress';
    this._previous.className = 'jp-CellflowChip-previous';
    this._problems.className = 'jp-CellflowChip-problems';
    node.append(
      this._name,
      this._settings,
      this._state,
      this._progress,
      this._previous,
      this._problems
    );
  }

  /** Show a new view; Running and Retrying tick every second to show the elapsed time. */
  set view(view: IChipView) {
    this._view = view;
    this.render();
  }

  get view(): IChipView | null {
    return this._view;
  }

  handleEvent(event: Event): void {
    if (event.type === 'click' && this._view) {
      event.stopPropagation();
      this._onClick(this._view.name);
    }
  }

  protected onAfterAttach(): void {
    this.node.addEventListener('click', this);
  }

  protected onBeforeDetach(): void {
    this.node.removeEventListener('click', this);
    this.stopTicking();
  }

  dispose(): void {
    this.stopTicking();
    super.dispose();
  }

  private render(): void {
    const view = this._view;
    if (!view) {
      return;
    }
    const trans = this._trans;
    const tr = (text: string, ...args: string[]) => trans.__(text, ...args);
    this._name.textContent = view.name || trans.__('(unnamed task)');
    this._settings.textContent = describeSettings(view.settings, tr, view.map);
    const live = view.live;
    this._state.textContent = live
      ? describeLiveState(live, Date.now(), tr)
      : '';
    this.node.dataset.state = live?.state ?? 'none';
    // A mapped task: how far its elements got ("7/10 completed, 1 retrying").
    this._progress.textContent = describeMapProgress(view.elements ?? [], tr);
    const previous = view.previous
      ? describePreviousState(view.previous, tr)
      : null;
    this._previous.textContent = previous ?? '';
    this.node.dataset.previous = previous ? view.previous!.state : 'none';
    this._problems.textContent = view.problems.join('; ');
    this.toggleClass('jp-mod-problem', view.problems.length > 0);
    const title = [
      trans.__('Task %1', view.name),
      this._settings.textContent,
      this._state.textContent,
      this._progress.textContent,
      this._previous.textContent,
      live?.note,
      ...view.problems
    ].filter(Boolean);
    this.node.title = title.join('\n');
    this.node.setAttribute(
      'aria-label',
      trans.__('Task %1: show it in the Cellflow panel', view.name)
    );
    if (live && ['Running', 'Retrying', 'AwaitingRetry'].includes(live.state)) {
      this.startTicking();
    } else {
      this.stopTicking();
    }
  }

  private startTicking(): void {
    if (this._timer === null) {
      this._timer = window.setInterval(() => this.render(), 1000);
    }
  }

  private stopTicking(): void {
    if (this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    }
  }

  private _view: IChipView | null = null;
  private _trans: TranslationBundle;
  private _onClick: (task: string) => void;
  private _timer: number | null = null;
  private _name = document.createElement('span');
  private _settings = document.createElement('span');
  private _state = document.createElement('span');
  private _progress = document.createElement('span');
  private _previous = document.createElement('span');
  private _problems = document.createElement('span');
}

export namespace TaskChip {
  export interface IOptions {
    trans: TranslationBundle;
    /** Called with the task's name when the chip is clicked. */
    onClick: (task: string) => void;
  }
}
