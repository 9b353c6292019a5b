import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import type { CellflowClient } from '../api/client.js';
import type { ICellflowEvent } from '../api/event-stream.js';
import type { FlowRunState, IFlowRunDetail, ILogLine } from '../api/types.js';
import { logTextRows } from '../flow/log-text.js';
import { stripAnsi } from './ansi.js';
import { messageOf } from './connection-model.js';
import { TaskTracker } from './task-tracker.js';

/** How many log lines one request reads (the API's page is at most 5,000). */
export const LOG_PAGE = 2000;

/** States a run can still be stopped in: it has not ended. */
export const CANCELLABLE_STATES: readonly FlowRunState[] = [
  'Scheduled',
  'Late',
  'Pending',
  'Running'
];
/** States "Retry from failed" starts a new run from. */
export const RETRYABLE_STATES: readonly FlowRunState[] = [
  'Failed',
  'Crashed',
  'Cancelled'
];

export type RunAction = 'cancel' | 'retry';

/** One row of the log view: one line of a log line's text, labelled by its task and attempt. */
export interface ILogRow {
  id: string;
  task: string | null;
  label: string;
  stream: string;
  /** The row's text, ANSI escapes included (the view colours them). */
  text: string;
}

/**
 * One run as the main area shows it: the run with its task runs and attempts, its log lines (read a
 * page at a time, then appended live from the flow's events, each line once, in id order), a search
 * and a task filter over the logs, whether the view follows new lines, and the actions its state
 * allows, each tracked while under way.
 */
export class RunViewModel implements IDisposable {
  constructor(
    private readonly client: () => CellflowClient,
    readonly runId: string,
    options: { task?: string | null } = {}
  ) {
    this._task = options.task ?? null;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get run(): IFlowRunDetail | null {
    return this._run;
  }

  get error(): string | null {
    return this._error;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** The task whose logs and outputs are shown (null: every task). */
  get task(): string | null {
    return this._task;
  }

  set task(task: string | null) {
    this._task = task;
    this.emit();
  }

  get search(): string {
    return this._search;
  }

  set search(search: string) {
    this._search = search;
    this.emit();
  }

  /** Whether the log view keeps the newest line in sight. */
  get follow(): boolean {
    return this._follow;
  }

  set follow(follow: boolean) {
    this._follow = follow;
    this.emit();
  }

  get logs(): readonly ILogLine[] {
    return this._logs;
  }

  /** The log rows shown: the chosen task's, matching the search (case-insensitive, escapes aside). */
  get logRows(): ILogRow[] {
    const needle = this._search.trim().toLowerCase();
    const rows: ILogRow[] = [];
    for (const line of this._logs) {
      if (this._task && line.task !== this._task) {
        continue;
      }
      const label = `${line.task ?? ''}${line.attempt ? `#${line.attempt}` : ''}`;
      logTextRows(line.text).forEach((text, i) => {
        if (!needle || stripAnsi(text).toLowerCase().includes(needle)) {
          rows.push({
            id: `${line.id}.${i}`,
            task: line.task,
            label,
            stream: line.stream,
            text
          });
        }
      });
    }
    return rows;
  }

  /** The actions the run's state allows now. */
  get actions(): RunAction[] {
    const state = this._run?.state;
    if (!state) {
      return [];
    }
    const actions: RunAction[] = [];
    if (CANCELLABLE_STATES.includes(state)) {
      actions.push('cancel');
    }
    if (RETRYABLE_STATES.includes(state)) {
      actions.push('retry');
    }
    return actions;
  }

  /** Whether an action is under way (its button waits for it). */
  isBusy(action: RunAction): boolean {
    return this._tasks.isBusy(action);
  }

  /** Reads the run and its logs from the start. */
  async load(): Promise<void> {
    await Promise.all([this.reloadRun(), this.readLogs()]);
  }

  /** An event of the run's flow: log lines are appended, a state change reads the run again. */
  handleEvent(event: ICellflowEvent): void {
    if (event.flowRunId !== this.runId || this._isDisposed) {
      return;
    }
    if (event.type === 'log' && Array.isArray(event.payload.lines)) {
      this.addLines(event.payload.lines as ILogLine[]);
    } else if (event.type.endsWith('.state')) {
      this._reads = this._reads.then(() => this.reloadRun());
    }
  }

  /** Stops the run (Scheduled, Pending or Running). */
  async cancel(): Promise<boolean> {
    return (await this.act('cancel', c => c.cancelRun(this.runId))) !== null;
  }

  /** Starts a new run from this one's failed tasks; resolves to the new run's id (null: refused). */
  async retry(): Promise<string | null> {
    const run = await this.act('retry', c => c.retryRun(this.runId));
    return run?.id ?? null;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    Signal.clearData(this);
  }

  private async act<T>(
    action: RunAction,
    call: (client: CellflowClient) => Promise<T>
  ): Promise<T | null> {
    if (this._tasks.isBusy(action)) {
      return null;
    }
    const done = this._tasks.run(action, async () => {
      const answer = await call(this.client());
      this._error = null;
      await this.reloadRun();
      return answer;
    });
    this.emit();
    try {
      return await done;
    } catch (error) {
      this._error = messageOf(error);
      return null;
    } finally {
      this.emit();
    }
  }

  private async reloadRun(): Promise<void> {
    try {
      this._run = await this.client().getRun(this.runId);
      this._error = null;
    } catch (error) {
      this._error = messageOf(error);
    }
    this.emit();
  }

  /** Reads the stored lines after the last one held, a page at a time, to the end. */
  private async readLogs(): Promise<void> {
    try {
      for (;;) {
        const after = this._logs.length
          ? this._logs[this._logs.length - 1].id
          : 0;
        const page = await this.client().getLogs(this.runId, {
          after,
          limit: LOG_PAGE
        });
        this.addLines(page);
        if (page.length < LOG_PAGE || this._isDisposed) {
          return;
        }
      }
    } catch (error) {
      this._error = messageOf(error);
      this.emit();
    }
  }

  private addLines(lines: readonly ILogLine[]): void {
    const fresh = lines.filter(l => !this._seen.has(l.id));
    if (fresh.length === 0) {
      return;
    }
    for (const line of fresh) {
      this._seen.add(line.id);
    }
    const merged = [...this._logs, ...fresh];
    // Lines come in id order but for a live event that overtook the first read's page: sort then.
    const inOrder = merged.every((l, i) => i === 0 || merged[i - 1].id < l.id);
    this._logs = inOrder ? merged : merged.sort((a, b) => a.id - b.id);
    this.emit();
  }

  private emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private _run: IFlowRunDetail | null = null;
  private _error: string | null = null;
  private _logs: ILogLine[] = [];
  private _seen = new Set<number>();
  private _task: string | null;
  private _search = '';
  private _follow = true;
  private _tasks = new TaskTracker<RunAction>();
  private _reads: Promise<void> = Promise.resolve();
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}
