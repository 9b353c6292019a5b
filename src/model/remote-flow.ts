import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { CellflowClient, CellflowError } from '../api/client.js';
import { EventStream, ICellflowEvent } from '../api/event-stream.js';
import type {
  IFlow,
  IFlowRun,
  IFlowRunDetail,
  IFlowVersion
} from '../api/types.js';
import { ENDED_FLOW_RUN_STATES } from '../flow/run-states.js';
import type { FlowSpec } from '../flow/spec.js';
import { parseElementTaskName } from '../flow/mapping-options.js';
import { fromServerTaskEvent, fromStoredTaskRun } from './chip-state.js';
import { ConnectionModel, messageOf } from './connection-model.js';
import { TaskTracker } from './task-tracker.js';
import { NotebookFlowModel } from './notebook-flow-model.js';
import { NotificationsModel } from './notifications-model.js';
import { SchedulesModel } from './schedules-model.js';

/** How many runs the history shows per page. */
export const RUNS_PAGE = 20;

/**
 * The deployed side of one notebook's flow: its flow on the Cellflow server, deploys, Run now, the run
 * history, and the server's events fed into the notebook's chips (the latest run's task states).
 */
export class RemoteFlowModel implements IDisposable {
  constructor(
    private readonly connection: ConnectionModel,
    readonly notebook: NotebookFlowModel,
    private readonly notebookJSON: () => unknown
  ) {
    connection.changed.connect(this.onConnection, this);
    notebook.changed.connect(this.onNotebookChanged, this);
    void this.onConnection();
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The deployed flow of this notebook (by name), or null before the first deploy. */
  get flow(): IFlow | null {
    return this._flow;
  }

  get version(): IFlowVersion | null {
    return this._version;
  }

  /**
   * True when the notebook's flow differs from the deployed version (compared by content hash). A
   * notebook with problems has no flow to compare: it is not what was deployed, so it changed.
   */
  get changedSinceDeploy(): boolean {
    const compiled = this.notebook.compiled;
    return (
      !!this._version &&
      !!compiled &&
      (!compiled.ok || compiled.spec.hash !== this._version.spec.hash)
    );
  }

  get runs(): IFlowRun[] {
    return this._runs;
  }

  get latestRunId(): string | null {
    return this._latestRunId;
  }

  /** A problem to show (a refused deploy, an unreachable server...). */
  get error(): string | null {
    return this._error;
  }

  /** Whether a call to the server is under way (deploy, run, reading the flow or its runs). */
  get busy(): boolean {
    return this._tasks.busy;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Deploy the notebook as a new version of its flow. */
  async deploy(): Promise<boolean> {
    const compiled = this.notebook.compiled;
    if (!compiled?.ok) {
      this.setError('Fix the flow’s problems before deploying');
      return false;
    }
    return this.act(async () => {
      const answer = await this.client.deployFlow(
        compiled.spec.name,
        this.notebookJSON()
      );
      this._flow = answer.flow;
      this._version = answer.version;
      this.follow();
    });
  }

  /**
   * Start a run of the deployed flow now, with these parameter values (defaults for the rest);
   * `refreshCache` skips cached task results (the tasks run and store fresh ones).
   */
  async runNow(
    parameters: Record<string, unknown>,
    options: { refreshCache?: boolean } = {}
  ): Promise<IFlowRun | null> {
    let run: IFlowRun | null = null;
    await this.act(async () => {
      if (!this._flow) {
        throw new Error('Deploy the flow first');
      }
      run = await this.client.startRun(this._flow.id, parameters, options);
      this.noteRun(run);
    });
    return run;
  }

  getRun(runId: string): Promise<IFlowRunDetail> {
    return this.client.getRun(runId);
  }

  get client(): CellflowClient {
    return this.connection.client;
  }

  /**
   * The deployed flow's schedules and overlap policy (null before the first deploy): one model per
   * flow, loaded when first asked for; a change of schedules reads the history again.
   */
  get schedules(): SchedulesModel | null {
    const flow = this._flow;
    if (!flow) {
      return null;
    }
    if (this._schedules?.flowId !== flow.id) {
      this._schedules?.dispose();
      this._schedules = new SchedulesModel({
        client: this.client,
        flowId: flow.id,
        onChanged: () => this.schedulesChanged()
      });
      void this._schedules.refresh();
    }
    return this._schedules;
  }

  /**
   * The deployed flow's notification rules and deliveries (null before the first deploy): one model
   * per flow, loaded when first asked for; read again when a run of the flow ends.
   */
  get notifications(): NotificationsModel | null {
    const flow = this._flow;
    if (!flow) {
      return null;
    }
    if (this._notifications?.flowId !== flow.id) {
      this._notifications?.dispose();
      this._notifications = new NotificationsModel({
        client: this.client,
        flowId: flow.id
      });
      void this._notifications.refresh();
    }
    return this._notifications;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._stream?.dispose();
    this._schedules?.dispose();
    this._notifications?.dispose();
    this.connection.changed.disconnect(this.onConnection, this);
    this.notebook.changed.disconnect(this.onNotebookChanged, this);
    Signal.clearData(this);
  }

  private async onConnection(): Promise<void> {
    if (this.connection.status !== 'loggedIn') {
      if (this.connection.status === 'loggedOut') {
        this._stream?.dispose();
        this._stream = null;
        this._flow = null;
        this._version = null;
        this._runs = [];
      }
      this._changed.emit();
      return;
    }
    if (!this._stream) {
      await this.lookUpFlow();
    }
  }

  private onNotebookChanged(): void {
    const name = this.notebook.compiled?.ok
      ? this.notebook.compiled.spec.name
      : null;
    if (name !== this._name) {
      this._name = name;
      void this.lookUpFlow();
    } else {
      this._changed.emit();
    }
  }

  /** Find the deployed flow of this notebook by its name, and follow it. */
  private async lookUpFlow(): Promise<void> {
    const compiled = this.notebook.compiled;
    this._name = compiled?.ok ? compiled.spec.name : null;
    if (!this._name || this.connection.status !== 'loggedIn') {
      this._changed.emit();
      return;
    }
    await this.act(async () => {
      const flows = await this.client.listFlows();
      const flow = flows.find(f => f.name === this._name) ?? null;
      this._flow = flow;
      this._version = null;
      if (flow) {
        this._version = (await this.client.getFlow(flow.id)).version;
        this.follow();
      }
    });
  }

  /** Load the run history, show the latest run on the chips, and follow the flow's events. */
  private follow(): void {
    const flow = this._flow;
    if (!flow) {
      return;
    }
    if (this._stream && this._streamFlowId === flow.id) {
      return;
    }
    this._stream?.dispose();
    this._streamFlowId = flow.id;
    void this.loadRuns().then(async () => {
      const latest = this._runs[0];
      if (latest) {
        await this.showRunOnChips(latest.id);
      }
    });
    // From the flow's first event: the chips' states come from its events (a stream that started at
    // the latest event and read the history afterwards could put an older stored state over newer
    // events). The history replayed is the price; see the closing note of 2026-12-07.
    this._stream = new EventStream(this.client, {
      query: `flowId=${encodeURIComponent(flow.id)}`,
      onEvent: event => this.onServerEvent(event),
      onConnection: (connected, reason) =>
        this.connection.setReachable(connected, reason),
      onUnauthorized: message => this.connection.sessionExpired(message)
    });
  }

  /**
   * The flow's schedules changed (paused, deleted, added): the server removed or planned runs, which
   * no event reports one by one. The history is read again, and the chips follow the newest run that
   * is still there (or show none), instead of a Scheduled run that no longer exists.
   */
  async schedulesChanged(): Promise<void> {
    await this.loadRuns();
    const latest = this._runs[0];
    if (latest) {
      if (latest.id !== this._latestRunId) {
        await this.showRunOnChips(latest.id);
      }
    } else {
      this._latestRunId = null;
      this.notebook.resetLive();
      this.notebook.setRunState(null);
    }
    this._changed.emit();
  }

  /** The flow's newest runs (the panel lists the last few; "Cellflow runs" pages through all). */
  private async loadRuns(): Promise<void> {
    const flow = this._flow;
    if (!flow) {
      return;
    }
    // Reads overlap (a run started, its event, the stream opening): only the newest one read counts,
    // and a run started here that a read begun before it could not see stays in the list.
    const generation = ++this._runsGeneration;
    await this.act(async () => {
      const page = await this.client.listRunsPage({
        flowId: flow.id,
        limit: RUNS_PAGE
      });
      if (generation !== this._runsGeneration) {
        return;
      }
      const listed = new Set(page.runs.map(r => r.id));
      for (const id of listed) {
        this._startedHere.delete(id);
      }
      this._runs = [
        ...[...this._startedHere.values()].filter(
          r => r.flowId === flow.id && !listed.has(r.id)
        ),
        ...page.runs
      ];
    });
  }

  /** Put a run's task states on the chips (from its stored detail), and follow it live. */
  private async showRunOnChips(runId: string): Promise<void> {
    this._latestRunId = runId;
    const run = await this.getRun(runId);
    if (this._latestRunId !== runId) {
      return;
    }
    this.notebook.resetLive();
    this.notebook.setRunState(run.state);
    if (['Scheduled', 'Late', 'Pending'].includes(run.state)) {
      this.notebook.setAllTasks(
        run.state as 'Scheduled',
        Date.parse(run.createdAt)
      );
      return;
    }
    for (const task of run.taskRuns) {
      this.notebook.applyRunEvent(
        fromStoredTaskRun(task, run.createdAt, this.retriesOf(task.taskName))
      );
    }
  }

  private onServerEvent(event: ICellflowEvent): void {
    const runId = event.flowRunId;
    switch (event.type) {
      case 'flow.deployed': {
        // A new version deployed elsewhere (`cellflow deploy`, another lab): the panel shows it.
        const flowId = this._flow?.id;
        if (
          flowId &&
          event.flowId === flowId &&
          event.payload.version !== this._version?.version
        ) {
          void this.readVersion(flowId);
        }
        break;
      }
      case 'flow_run.created': {
        if (runId) {
          this._latestRunId = runId;
          this.notebook.resetLive();
          const state = String(event.payload.state ?? 'Pending');
          this.notebook.setRunState(state);
          this.notebook.setAllTasks(state as 'Scheduled', Date.parse(event.at));
          void this.loadRuns();
        }
        break;
      }
      case 'flow_run.state': {
        const to = String(event.payload.to) as IFlowRun['state'];
        // The change's time is the run's start or end: its row shows them at once, and an ended run's
        // duration stops growing (they are the same times the server keeps).
        this._runs = this._runs.map(run =>
          run.id === runId
            ? {
                ...run,
                state: to,
                ...(to === 'Running' && !run.startedAt
                  ? { startedAt: event.at }
                  : {}),
                ...(ENDED_FLOW_RUN_STATES.includes(to) && !run.endedAt
                  ? { endedAt: event.at }
                  : {})
              }
            : run
        );
        if (ENDED_FLOW_RUN_STATES.includes(to) || to === 'Late') {
          // Its notifications were queued with this change: show them and their outcome.
          this._notifications?.runEnded();
        }
        if (runId === this._latestRunId) {
          this.notebook.setRunState(to);
          if (to === 'Late' || to === 'Pending') {
            this.notebook.setAllTasks(to, Date.parse(event.at));
          }
        }
        this._changed.emit();
        break;
      }
      case 'task_run.state': {
        if (runId && runId !== this._latestRunId) {
          // A newer run started (e.g. by a schedule): the chips follow the latest one.
          this._latestRunId = runId;
          this.notebook.resetLive();
        }
        const task = String(event.payload.taskName ?? '');
        this.notebook.applyRunEvent(
          fromServerTaskEvent(event.payload, event.at, this.retriesOf(task))
        );
        break;
      }
    }
  }

  /** Read the flow and its latest version again, unless an older answer than what is shown. */
  private async readVersion(flowId: string): Promise<void> {
    try {
      const answer = await this.client.getFlow(flowId);
      if (
        this._flow?.id === flowId &&
        answer.version.version >= (this._version?.version ?? 0)
      ) {
        this._flow = answer.flow;
        this._version = answer.version;
        this._changed.emit();
      }
    } catch {
      // Unreachable or logged out: the connection model reports it; the next event tries again.
    }
  }

  /** A task's retries, as deployed; an element of a mapped task (`fetch[3]`) has its task's. */
  private retriesOf(task: string): number {
    const spec: FlowSpec | undefined = this._version?.spec;
    task = parseElementTaskName(task)?.task ?? task;
    return spec?.tasks.find(t => t.name === task)?.retries ?? 0;
  }

  private noteRun(run: IFlowRun): void {
    this._startedHere.set(run.id, run);
    if (!this._runs.some(r => r.id === run.id)) {
      this._runs = [run, ...this._runs];
    } else {
      this._runs = this._runs.map(r =>
        r.id === run.id ? { ...r, ...run } : r
      );
    }
  }

  /** Run a server call: tracked while it runs, its failure shown (and a 401 asks to log in again). */
  private async act(call: () => Promise<void>): Promise<boolean> {
    this._error = null;
    const running = this._tasks.run('call', call);
    this._changed.emit();
    try {
      await running;
      return true;
    } catch (error) {
      if (error instanceof CellflowError && error.isUnauthorized) {
        this.connection.sessionExpired(error.message);
      } else if (error instanceof CellflowError && error.isUnreachable) {
        this.connection.setReachable(false, error.message);
      }
      this._error = describeError(error);
      return false;
    } finally {
      if (!this._isDisposed) {
        this._changed.emit();
      }
    }
  }

  private setError(message: string): void {
    this._error = message;
    this._changed.emit();
  }

  private _flow: IFlow | null = null;
  private _schedules: SchedulesModel | null = null;
  private _notifications: NotificationsModel | null = null;
  private _runsGeneration = 0;
  /** Runs started by Run now, kept in the list until a read of the history has them. */
  private _startedHere = new Map<string, IFlowRun>();
  private _version: IFlowVersion | null = null;
  private _runs: IFlowRun[] = [];
  private _latestRunId: string | null = null;
  private _name: string | null = null;
  private _error: string | null = null;
  private _tasks = new TaskTracker();
  private _isDisposed = false;
  private _stream: EventStream | null = null;
  private _streamFlowId: string | null = null;
  private _changed = new Signal<this, void>(this);
}

/** A server error as one message; a refused deploy lists the problems it names. */
function describeError(error: unknown): string {
  if (error instanceof CellflowError && Array.isArray(error.body.problems)) {
    const problems = (error.body.problems as { message?: string }[])
      .map(p => p.message)
      .filter(Boolean);
    return [error.message, ...problems].join('\n');
  }
  return messageOf(error);
}
