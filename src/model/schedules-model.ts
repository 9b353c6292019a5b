import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import type { CellflowClient } from '../api/client.js';
import type { IOverlap, ISchedule, OverlapPolicy } from '../api/types.js';
import type { ScheduleSpec } from '../flow/schedule-types.js';
import { messageOf } from './connection-model.js';
import { TaskTracker } from './task-tracker.js';

export interface ISchedulesModelOptions {
  client: CellflowClient;
  flowId: string;
  /**
   * Told after each change went through: pausing, deleting or adding a schedule removed or planned
   * runs, which no event reports one by one (RemoteFlowModel.schedulesChanged reads the history again).
   */
  onChanged?: () => Promise<void>;
}

/**
 * One deployed flow's schedules and overlap policy, as the server has them. Each action is a request
 * of its own, counted while under way (`busy`), and the list is read again after it, so what shows is
 * the server's (descriptions and next runs are its).
 */
export class SchedulesModel implements IDisposable {
  constructor(private readonly options: ISchedulesModelOptions) {}

  get flowId(): string {
    return this.options.flowId;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get schedules(): readonly ISchedule[] {
    return this._schedules;
  }

  /** The flow's overlap policy; null until the first load. */
  get overlap(): IOverlap | null {
    return this._overlap;
  }

  /** True until the first load ended. */
  get loading(): boolean {
    return !this._loaded;
  }

  /** True while an action is under way. */
  get busy(): boolean {
    return this._tasks.busy;
  }

  get error(): string | null {
    return this._error;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Reads the schedules and the overlap policy again. */
  async refresh(): Promise<void> {
    const generation = ++this._generation;
    try {
      const answer = await this.options.client.listSchedules(this.flowId);
      if (generation === this._generation && !this._isDisposed) {
        this._schedules = answer.schedules;
        this._overlap = answer.overlap;
        this._error = null;
      }
    } catch (error) {
      if (generation === this._generation) {
        this._error = messageOf(error);
      }
    } finally {
      this._loaded = true;
      this.emit();
    }
  }

  add(spec: ScheduleSpec): Promise<boolean> {
    return this.act(() =>
      this.options.client.createSchedule(this.flowId, spec)
    );
  }

  setPaused(id: string, paused: boolean): Promise<boolean> {
    return this.act(() => this.options.client.setSchedulePaused(id, paused));
  }

  remove(id: string): Promise<boolean> {
    return this.act(() => this.options.client.deleteSchedule(id));
  }

  /** Shown at once, sent, and put back as the server has it if the server refused it. */
  setOverlap(overlap: OverlapPolicy): Promise<boolean> {
    if (this._overlap) {
      this._overlap = { ...this._overlap, overlap };
      this.emit();
    }
    return this.act(async () => {
      this._overlap = await this.options.client.setOverlap(
        this.flowId,
        overlap
      );
    }, false);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    Signal.clearData(this);
  }

  /** One action: counted while under way; then the list read again, and the flow told. */
  private async act(
    call: () => Promise<unknown>,
    plansRuns = true
  ): Promise<boolean> {
    this._error = null;
    let failure: string | null = null;
    const done = this._tasks.run('change', async () => {
      try {
        await call();
      } catch (error) {
        failure = messageOf(error);
      }
      // Read again either way: a refused change leaves what the server has.
      await this.refresh();
      if (failure === null && plansRuns) {
        await this.options.onChanged?.();
      }
    });
    this.emit();
    try {
      await done;
    } finally {
      if (failure !== null) {
        this._error = failure; // over the refresh's clearing
      }
      this.emit();
    }
    return failure === null;
  }

  private emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private _schedules: ISchedule[] = [];
  private _overlap: IOverlap | null = null;
  private _loaded = false;
  private _tasks = new TaskTracker();
  private _error: string | null = null;
  private _generation = 0;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}
