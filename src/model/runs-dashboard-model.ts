import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { groupElements } from '../flow/mapping-options.js';
import { EventStream } from '../api/event-stream.js';
import type {
  IFlow,
  IFlowRun,
  IFlowRunDetail,
  ISchedule
} from '../api/types.js';
import { ConnectionModel, messageOf } from './connection-model.js';
import { PAST_STATES, RunHistoryModel } from './run-history-model.js';
import { RunViewModel } from './run-view-model.js';

/** How many of a flow's runs the grid shows. */
export const GRID_RUNS = 20;

/** One cell of the grid: a task in a run, or nothing when that run had no such task. */
export interface IGridCell {
  state: string;
  attempts: number;
  startedAt: string | null;
  endedAt: string | null;
}

/** How many flows the workspace's list reads the schedules and last run of. */
export const LISTED_FLOWS = 50;

/** A flow in the workspace's list: its schedules and its newest run. */
export interface IFlowSummary {
  schedules: ISchedule[];
  lastRun: IFlowRun | null;
}

/** A bar of the durations chart: one of the grid's runs. */
export interface IDurationBar {
  runId: string;
  state: string;
  /** Null: it never started. */
  ms: number | null;
  open: boolean;
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
 * The "Cellflow runs" view's state: the workspace's flows (a list with their schedules, last state and
 * next run, shown while no flow is chosen), the chosen flow's newest runs with their task runs (the
 * grid: tasks as rows, runs as columns, oldest on the left as Airflow's grid), its history, and the
 * chosen run (its Gantt strip, logs, outputs and actions). Live: the flow's events read the runs they
 * name again and reach the run's view.
 */
export class RunsDashboardModel implements IDisposable {
  constructor(
    private readonly connection: ConnectionModel,
    selection: {
      flowId?: string | null;
      runId?: string | null;
      task?: string | null;
    } = {}
  ) {
    this._flowId = selection.flowId ?? null;
    this.setHistory();
    if (selection.runId) {
      this.openRunView(selection.runId, selection.task ?? null);
    }
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
    return this._runView?.runId ?? null;
  }

  /** The chosen run's view (null: none chosen). */
  get runView(): RunViewModel | null {
    return this._runView;
  }

  /** The chosen flow's history (null while the flows list shows). */
  get history(): RunHistoryModel | null {
    return this._history;
  }

  get flow(): IFlow | null {
    return this._flows.find(f => f.id === this._flowId) ?? null;
  }

  /** A listed flow's schedules and newest run (undefined until read). */
  summary(flowId: string): IFlowSummary | undefined {
    return this._summaries.get(flowId);
  }

  /** The grid's runs' durations, oldest first; `now` ends a running one. */
  durations(now = Date.now()): IDurationBar[] {
    return this._runs.map(run => ({
      runId: run.id,
      state: run.state,
      ms: run.startedAt
        ? (run.endedAt ? Date.parse(run.endedAt) : now) -
          Date.parse(run.startedAt)
        : null,
      open: !!run.startedAt && !run.endedAt
    }));
  }

  /** The selected flow's newest runs, oldest first (the grid's columns, left to right). */
  get runs(): readonly IFlowRunDetail[] {
    return this._runs;
  }

  /** The chosen run as its view read it, else as the grid holds it. */
  get selectedRun(): IFlowRunDetail | null {
    return (
      this._runView?.run ??
      this._runs.find(r => r.id === this._runView?.runId) ??
      null
    );
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

  /**
   * The grid's rows: task names in the order the runs have them (newer runs add theirs at the end),
   * a mapped task's elements (`fetch[0]`, ...) right under their task, in element order.
   */
  get tasks(): string[] {
    const names: string[] = [];
    for (const run of this._runs) {
      for (const task of run.taskRuns) {
        if (!names.includes(task.taskName)) {
          names.push(task.taskName);
        }
      }
    }
    return groupElements(names);
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

  /** Show a flow (null: the workspace's flows list). */
  async selectFlow(flowId: string | null): Promise<void> {
    if (flowId === this._flowId) {
      return;
    }
    this._flowId = flowId;
    this.openRunView(null);
    this._runs = [];
    this.setHistory();
    this.follow();
    await Promise.all([
      this.loadRuns(),
      this._history?.load(),
      flowId ? undefined : this.loadSummaries()
    ]);
  }

  /** Show a run of the flow (null: none), optionally one task's logs and outputs. */
  selectRun(runId: string | null, task: string | null = null): void {
    if (runId !== null && runId === this._runView?.runId) {
      this._runView.task = task;
      return;
    }
    this.openRunView(runId, task);
    if (this._runView && this.connection.status === 'loggedIn') {
      void this._runView.load();
    }
    this.emit();
  }

  /** Where the lab serves a run's executed notebook (a download through its proxy). */
  notebookUrl(runId: string): string {
    return this.connection.client.downloadUrl(
      `runs/${encodeURIComponent(runId)}/notebook`
    );
  }

  /** "Retry from failed" on the chosen run, then the new run is shown. */
  async retrySelected(): Promise<void> {
    const newRun = await this._runView?.retry();
    if (newRun) {
      this.selectRun(newRun);
    }
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
      if (!this._flowId && this._runView) {
        // A run given alone (a notification's link) is shown on its own flow.
        this._flowId = (
          await this.connection.client.getRun(this._runView.runId)
        ).flowId;
        this.setHistory();
      }
      if (this._flowId && !this._flows.some(f => f.id === this._flowId)) {
        this._flowId = null;
        this.openRunView(null);
        this.setHistory();
      }
      this._error = null;
    } catch (error) {
      this._error = messageOf(error);
    }
    this.follow();
    await Promise.all([
      this.loadRuns(),
      this._history?.load(),
      this._runView?.load(),
      this._flowId ? undefined : this.loadSummaries()
    ]);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._stream?.dispose();
    this._runView?.dispose();
    this.connection.changed.disconnect(this.onConnection, this);
    Signal.clearData(this);
  }

  private async onConnection(): Promise<void> {
    await this.refresh();
  }

  private setHistory(): void {
    this._history?.changed.disconnect(this.emit, this);
    this._history = this._flowId
      ? new RunHistoryModel(() => this.connection.client, this._flowId)
      : null;
    this._history?.changed.connect(this.emit, this);
  }

  private openRunView(runId: string | null, task: string | null = null): void {
    this._runView?.changed.disconnect(this.emit, this);
    this._runView?.dispose();
    this._runView = runId
      ? new RunViewModel(() => this.connection.client, runId, { task })
      : null;
    this._runView?.changed.connect(this.emit, this);
  }

  /** Each listed flow's schedules and newest run, read side by side. */
  private async loadSummaries(): Promise<void> {
    const client = this.connection.client;
    const listed = this._flows.slice(0, LISTED_FLOWS);
    await Promise.all(
      listed.map(async flow => {
        try {
          // The last run is the newest one not merely planned: a schedule makes its runs ahead.
          const [{ schedules }, { runs }] = await Promise.all([
            client.listSchedules(flow.id),
            client.listRunsPage({
              flowId: flow.id,
              states: PAST_STATES,
              limit: 1
            })
          ]);
          this._summaries.set(flow.id, { schedules, lastRun: runs[0] ?? null });
        } catch {
          // A flow deleted meanwhile: the next refresh drops it.
        }
      })
    );
    this.emit();
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
      // Runs a schedule planned ahead have no tasks yet: the grid and the chart leave them out.
      const { runs: newest } = await client.listRunsPage({
        flowId,
        states: PAST_STATES,
        limit: GRID_RUNS
      });
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
    // From the flow's latest event on (live=true): the runs shown were read from the store, and a
    // replay of the whole history would read every run it names again, one by one.
    this._stream = new EventStream(this.connection.client, {
      query: `flowId=${encodeURIComponent(flowId)}&live=true`,
      onEvent: event => {
        if (!event.flowRunId || flowId !== this._flowId) {
          return;
        }
        this._runView?.handleEvent(event);
        // Log lines change no run: only the run view takes them.
        if (event.type !== 'log') {
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
      const { taskRuns: _, ...listed } = run;
      this._history?.noteRun(listed);
      const at = this._runs.findIndex(r => r.id === run.id);
      if (run.state === 'Scheduled') {
        // Planned: in the history's upcoming runs only (a paused schedule's runs go back there).
        this._runs = this._runs.filter(r => r.id !== run.id);
      } else if (at >= 0) {
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
  private _runView: RunViewModel | null = null;
  private _history: RunHistoryModel | null = null;
  private _summaries = new Map<string, IFlowSummary>();
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
