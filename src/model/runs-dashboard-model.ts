import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { EventStream } from '../api/event-stream.js';
import type { IFlow, IFlowRunDetail } from '../api/types.js';
import { ConnectionModel, messageOf } from './connection-model.js';

/** How many of a flow's runs the grid shows. */
export const GRID_RUNS = 20;

/** One cell of the grid: a task in a run, or nothing when that run had no such task. */
export interface IGridCell {
  state: string;
  attempts: number;
  startedAt: string | null;
  endedAt: string | null;
}

/** A bar of the Gantt strip: one attempt of one task, in ms from the run's start. */
export interface IGanttBar {
  task: string;
  attempt: number;
  state: string;
  fromMs: number;
  toMs: number;
  /** Still running: the bar ends at `now`. */
  open: boolean;
}

/**
 * The "Cellflow runs" view's state: the workspace's flows, the selected flow's newest runs with their
 * task runs (the grid: tasks as rows, runs as columns, oldest on the left as Airflow's grid), the
 * selected run (its Gantt strip). Live: the flow's events read the runs they name again.
 */
export class RunsDashboardModel implements IDisposable {
  constructor(
    private readonly connection: ConnectionModel,
    selection: { flowId?: string | null; runId?: string | null } = {}
  ) {
    this._flowId = selection.flowId ?? null;
    this._runId = selection.runId ?? null;
    connection.changed.connect(this.onConnection, this);
    void this.onConnection();
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get flows(): readonly IFlow[] {
    return this._flows;
  }

  get flowId(): string | null {
    return this._flowId;
  }

  get runId(): string | null {
    return this._runId;
  }

  /** The selected flow's newest runs, oldest first (the grid's columns, left to right). */
  get runs(): readonly IFlowRunDetail[] {
    return this._runs;
  }

  get selectedRun(): IFlowRunDetail | null {
    return this._runs.find(r => r.id === this._runId) ?? null;
  }

  get loading(): boolean {
    return this._loading;
  }

  get error(): string | null {
    return this._error;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** The grid's rows: task names in the order the runs have them (newer runs add theirs at the end). */
  get tasks(): string[] {
    const names: string[] = [];
    for (const run of this._runs) {
      for (const task of run.taskRuns) {
        if (!names.includes(task.taskName)) {
          names.push(task.taskName);
        }
      }
    }
    return names;
  }

  cell(run: IFlowRunDetail, task: string): IGridCell | null {
    const t = run.taskRuns.find(x => x.taskName === task);
    if (!t) {
      return null;
    }
    return {
      state: t.state,
      attempts: t.attempts.length,
      startedAt: t.startedAt ?? null,
      endedAt: t.endedAt ?? null
    };
  }

  /** The selected run's attempts on a time axis from the run's first start; `now` ends open ones. */
  gantt(now = Date.now()): { bars: IGanttBar[]; spanMs: number } {
    const run = this.selectedRun;
    if (!run) {
      return { bars: [], spanMs: 0 };
    }
    const attempts = run.taskRuns.flatMap(t =>
      t.attempts.map(a => ({ task: t.taskName, a }))
    );
    if (attempts.length === 0) {
      return { bars: [], spanMs: 0 };
    }
    const origin = Math.min(...attempts.map(x => Date.parse(x.a.startedAt)));
    const bars = attempts.map(({ task, a }) => {
      const end = a.endedAt ? Date.parse(a.endedAt) : now;
      return {
        task,
        attempt: a.attempt,
        state: a.state,
        fromMs: Date.parse(a.startedAt) - origin,
        toMs: Math.max(end, Date.parse(a.startedAt)) - origin,
        open: !a.endedAt
      };
    });
    return { bars, spanMs: Math.max(1, ...bars.map(b => b.toMs)) };
  }

  async selectFlow(flowId: string): Promise<void> {
    if (flowId === this._flowId) {
      return;
    }
    this._flowId = flowId;
    this._runId = null;
    this._runs = [];
    this.follow();
    await this.loadRuns();
  }

  selectRun(runId: string | null): void {
    this._runId = runId;
    this._changed.emit();
  }

  /** Reads the flows and the selected flow's runs again. */
  async refresh(): Promise<void> {
    if (this.connection.status !== 'loggedIn') {
      this._flows = [];
      this._runs = [];
      this._changed.emit();
      return;
    }
    this._loading = true;
    this._changed.emit();
    try {
      this._flows = await this.connection.client.listFlows();
      if (!this._flowId || !this._flows.some(f => f.id === this._flowId)) {
        this._flowId = this._flows[0]?.id ?? null;
      }
      this._error = null;
    } catch (error) {
      this._error = messageOf(error);
    }
    this.follow();
    await this.loadRuns();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._stream?.dispose();
    this.connection.changed.disconnect(this.onConnection, this);
    Signal.clearData(this);
  }

  private async onConnection(): Promise<void> {
    await this.refresh();
  }

  private async loadRuns(): Promise<void> {
    const flowId = this._flowId;
    const generation = ++this._generation;
    if (!flowId) {
      this._loading = false;
      this._changed.emit();
      return;
    }
    this._loading = true;
    this._changed.emit();
    try {
      const client = this.connection.client;
      const newest = await client.listRuns(flowId, GRID_RUNS);
      const details = await Promise.all(newest.map(r => client.getRun(r.id)));
      if (generation === this._generation) {
        this._runs = details.reverse();
        this._error = null;
      }
    } catch (error) {
      if (generation === this._generation) {
        this._error = messageOf(error);
      }
    } finally {
      if (generation === this._generation) {
        this._loading = false;
        this.emit();
      }
    }
  }

  /** Follows the selected flow's events: a run they name is read again (one at a time, in order). */
  private follow(): void {
    if (this._streamFlowId === this._flowId) {
      return;
    }
    this._stream?.dispose();
    this._stream = null;
    this._streamFlowId = this._flowId;
    if (!this._flowId || this.connection.status !== 'loggedIn') {
      return;
    }
    const flowId = this._flowId;
    this._stream = new EventStream(this.connection.client, {
      query: `flowId=${encodeURIComponent(flowId)}`,
      onEvent: event => {
        if (event.flowRunId && flowId === this._flowId) {
          this._reads = this._reads.then(() => this.readRun(event.flowRunId!));
        }
      }
    });
  }

  private async readRun(runId: string): Promise<void> {
    try {
      const run = await this.connection.client.getRun(runId);
      if (run.flowId !== this._flowId) {
        return;
      }
      const at = this._runs.findIndex(r => r.id === run.id);
      if (at >= 0) {
        this._runs = this._runs.map(r => (r.id === run.id ? run : r));
      } else {
        this._runs = [...this._runs, run].slice(-GRID_RUNS);
      }
      this.emit();
    } catch {
      // A run deleted meanwhile: the next full read shows what is there.
    }
  }

  private emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private _flows: IFlow[] = [];
  private _flowId: string | null;
  private _runId: string | null;
  private _runs: IFlowRunDetail[] = [];
  private _loading = false;
  private _error: string | null = null;
  private _generation = 0;
  private _isDisposed = false;
  private _stream: EventStream | null = null;
  private _streamFlowId: string | null = null;
  private _reads: Promise<void> = Promise.resolve();
  private _changed = new Signal<this, void>(this);
}
