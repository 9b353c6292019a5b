import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import React, { useEffect, useState } from 'react';

import type { ICellflowEvent } from '../api/event-stream.js';
import { scheduledIcon, startedIcon } from '../icons.js';
import { ENDED_FLOW_RUN_STATES, FLOW_RUN_STATES } from '../flow/run-states.js';
import { logTextRows } from '../flow/log-text.js';
import type { IFlowRun, IFlowRunDetail, ILogLine } from '../api/types.js';
import { formatDuration } from '../model/chip-state.js';
import { RemoteFlowModel } from '../model/remote-flow.js';
import { DataPreviewSlot } from '../preview/data-preview-slot.js';
import { isOutput, OutputView } from './output-view.js';

/** Run history of the active notebook's deployed flow, and the view of one run. */
export class RunsView extends ReactWidget {
  constructor(
    private readonly rendermime: IRenderMimeRegistry,
    private readonly trans: TranslationBundle,
    /** Opens "Cellflow runs" in the main area on a flow (and run). */
    private readonly openRuns?: (flowId: string, runId?: string) => void
  ) {
    super();
    this.addClass('jp-CellflowRuns');
    // A running run's duration counts up: redrawn every second while one runs, never otherwise.
    this._timer = window.setInterval(() => {
      if (this._remote?.runs.some(run => run.state === 'Running')) {
        this.update();
      }
    }, 1000);
  }

  set remote(remote: RemoteFlowModel | null) {
    this._remote?.changed.disconnect(this.update, this);
    this._remote = remote;
    remote?.changed.connect(this.update, this);
    this._openRun = null;
    this.update();
  }

  /** Open a run's view, optionally scrolled to one task (a chip's click). */
  openRun(runId: string, task?: string): void {
    this._openRun = { runId, task };
    this.update();
  }

  dispose(): void {
    window.clearInterval(this._timer);
    this.remote = null;
    super.dispose();
  }

  protected render(): JSX.Element | null {
    const remote = this._remote;
    if (!remote || !remote.flow) {
      return null;
    }
    const open = this._openRun;
    return (
      <div>
        <RunHistory
          remote={remote}
          trans={this.trans}
          selected={open?.runId ?? null}
          onOpen={id => this.openRun(id)}
          openRuns={this.openRuns}
        />
        {open && (
          <RunDetail
            key={open.runId}
            remote={remote}
            runId={open.runId}
            focusTask={open.task}
            rendermime={this.rendermime}
            trans={this.trans}
            onClose={() => {
              this._openRun = null;
              this.update();
            }}
            onOpenInMainArea={
              this.openRuns && remote.flow
                ? () => this.openRuns!(remote.flow!.id, open.runId)
                : undefined
            }
          />
        )}
      </div>
    );
  }

  private _remote: RemoteFlowModel | null = null;
  private _openRun: { runId: string; task?: string } | null = null;
  private readonly _timer: number;
}

function durationOf(run: {
  startedAt?: string | null;
  endedAt?: string | null;
}): string {
  if (!run.startedAt) {
    return '';
  }
  const end = run.endedAt ? Date.parse(run.endedAt) : Date.now();
  return formatDuration(end - Date.parse(run.startedAt));
}

/** The history's clock and start icons: inline, before their time. */
const WHEN_ICON = {
  tag: 'span',
  className: 'jp-CellflowRuns-whenIcon',
  elementPosition: 'center',
  height: '12px',
  width: '12px'
} as const;

function time(iso?: string | null): string {
  return iso ? new Date(iso).toLocaleTimeString() : '';
}

function RunHistory(props: {
  remote: RemoteFlowModel;
  trans: TranslationBundle;
  selected: string | null;
  onOpen: (id: string) => void;
  openRuns?: (flowId: string) => void;
}): JSX.Element {
  const { remote, trans, openRuns } = props;
  return (
    <section aria-label={trans.__('Runs')}>
      <h3 className="jp-CellflowSection-title">{trans.__('Runs')}</h3>
      {openRuns && remote.flow && (
        <div className="jp-CellflowActions-buttons">
          <button
            type="button"
            className="jp-mod-styled"
            onClick={() => openRuns(remote.flow!.id)}
          >
            {trans.__('Open runs')}
          </button>
        </div>
      )}
      <label className="jp-CellflowRuns-filter">
        {trans.__('State')}
        <select
          className="jp-mod-styled"
          value={remote.stateFilter}
          onChange={e => void remote.filterRuns(e.target.value)}
        >
          <option value="">{trans.__('all')}</option>
          {FLOW_RUN_STATES.map(state => (
            <option key={state} value={state}>
              {state}
            </option>
          ))}
        </select>
      </label>
      <table className="jp-CellflowRuns-table">
        <thead>
          <tr>
            <th>{trans.__('State')}</th>
            <th>{trans.__('When')}</th>
            <th>{trans.__('Parameters')}</th>
          </tr>
        </thead>
        <tbody>
          {remote.runs.map((run: IFlowRun) => (
            <tr
              key={run.id}
              className={run.id === props.selected ? 'jp-mod-selected' : ''}
              data-run={run.id}
              data-state={run.state}
              tabIndex={0}
              aria-label={trans.__('Run %1, %2', run.id.slice(0, 8), run.state)}
              onClick={() => props.onOpen(run.id)}
              onKeyDown={e => {
                if (e.key === 'Enter') {
                  props.onOpen(run.id);
                }
              }}
            >
              <td>
                <span
                  className="jp-CellflowRuns-state"
                  title={
                    run.waitingFor
                      ? trans.__('waiting for %1', run.waitingFor)
                      : undefined
                  }
                >
                  {run.state}
                </span>
                <span className="jp-CellflowRuns-trigger">{run.trigger}</span>
              </td>
              <td className="jp-CellflowRuns-when">
                {run.scheduledAt && (
                  <span title={trans.__('scheduled')}>
                    <scheduledIcon.react {...WHEN_ICON} />
                    {time(run.scheduledAt)}
                  </span>
                )}
                {run.startedAt && (
                  <span title={trans.__('started')}>
                    <startedIcon.react {...WHEN_ICON} />
                    {time(run.startedAt)}
                  </span>
                )}
                {run.startedAt && (
                  <span title={trans.__('duration')}>{durationOf(run)}</span>
                )}
              </td>
              <td className="jp-CellflowRuns-parameters">
                {Object.keys(run.parameters ?? {}).length
                  ? JSON.stringify(run.parameters)
                  : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {remote.runs.length === 0 && (
        <p className="jp-CellflowHint">{trans.__('No runs yet.')}</p>
      )}
      {remote.nextCursor && (
        <button
          type="button"
          className="jp-mod-styled"
          onClick={() => void remote.moreRuns()}
        >
          {trans.__('More runs')}
        </button>
      )}
    </section>
  );
}

function RunDetail(props: {
  remote: RemoteFlowModel;
  runId: string;
  focusTask?: string;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
  onClose: () => void;
  /** Opens this run in "Cellflow runs", in the main area. */
  onOpenInMainArea?: () => void;
}): JSX.Element {
  const { remote, runId, rendermime, trans } = props;
  const [run, setRun] = useState<IFlowRunDetail | null>(null);
  const [logs, setLogs] = useState<ILogLine[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let alive = true;
    const reload = () =>
      remote.getRun(runId).then(
        r => alive && setRun(r),
        e => alive && setError(String(e))
      );
    void reload();
    void remote.getLogs(runId).then(lines => alive && setLogs(lines));
    // Live: state changes reload the run, log events append their lines.
    const onEvent = (_: unknown, event: ICellflowEvent) => {
      if (event.flowRunId !== runId) {
        return;
      }
      if (event.type === 'log' && Array.isArray(event.payload.lines)) {
        const lines = event.payload.lines as ILogLine[];
        setLogs(previous => {
          const seen = new Set(previous.map(l => l.id));
          return [...previous, ...lines.filter(l => !seen.has(l.id))];
        });
      } else if (event.type.endsWith('.state')) {
        void reload();
      }
    };
    remote.events.connect(onEvent);
    return () => {
      alive = false;
      remote.events.disconnect(onEvent);
    };
  }, [remote, runId]);

  if (!run) {
    return (
      <p className="jp-CellflowHint">{error ?? trans.__('Loading the run…')}</p>
    );
  }
  const ended = ENDED_FLOW_RUN_STATES.includes(run.state);
  const retryable = ['Failed', 'Crashed', 'Cancelled'].includes(run.state);
  const tasks = props.focusTask
    ? run.taskRuns.filter(t => t.taskName === props.focusTask)
    : run.taskRuns;
  return (
    <section
      className="jp-CellflowRunDetail"
      aria-label={trans.__('Run %1', run.id)}
    >
      <h3 className="jp-CellflowSection-title">
        {trans.__('Run %1', run.id.slice(0, 8))}{' '}
        <span data-state={run.state}>{run.state}</span>
      </h3>
      {run.error && <p className="jp-CellflowError">{run.error}</p>}
      {run.waitingFor && (
        <p className="jp-CellflowRunDetail-waiting">
          {trans.__('Waiting for %1', run.waitingFor)}
        </p>
      )}
      <div className="jp-CellflowActions-buttons">
        <button
          type="button"
          className="jp-mod-styled jp-mod-warn"
          disabled={ended}
          onClick={() => void remote.cancel(run.id)}
        >
          {trans.__('Cancel')}
        </button>
        <button
          type="button"
          className="jp-mod-styled"
          disabled={!retryable}
          onClick={() => void remote.retry(run.id)}
        >
          {trans.__('Retry from failed')}
        </button>
        <a
          className="jp-mod-styled jp-CellflowLink"
          href={remote.client.downloadUrl(`runs/${run.id}/notebook`)}
          download={`${run.id}.ipynb`}
        >
          {trans.__('Executed notebook')}
        </a>
        {props.onOpenInMainArea && (
          <button
            type="button"
            className="jp-mod-styled"
            onClick={props.onOpenInMainArea}
          >
            {trans.__('Open in Cellflow runs')}
          </button>
        )}
        <button type="button" className="jp-mod-styled" onClick={props.onClose}>
          {trans.__('Close')}
        </button>
      </div>
      <Timeline run={run} trans={trans} />
      {tasks.map(task => (
        <div
          key={task.id}
          className="jp-CellflowRunDetail-task"
          data-task={task.taskName}
        >
          <h4>
            {task.taskName} <span data-state={task.state}>{task.state}</span>
            {task.attemptCount > 1 &&
              ` · ${trans.__('%1 attempts', String(task.attemptCount))}`}
          </h4>
          {task.error && <p className="jp-CellflowError">{task.error}</p>}
          {(task.attempts[task.attempts.length - 1]?.outputs ?? [])
            // Outputs are any JSON on the wire; nbformat outputs are objects.
            .filter(isOutput)
            .map((output, i) => (
              <React.Fragment key={i}>
                <OutputView output={output} rendermime={rendermime} />
                <DataPreviewSlot output={output} trans={trans} />
              </React.Fragment>
            ))}
        </div>
      ))}
      <h4>{trans.__('Logs')}</h4>
      <pre className="jp-CellflowLogs" aria-label={trans.__('Logs')}>
        {logs
          .filter(l => !props.focusTask || l.task === props.focusTask)
          .flatMap(l => {
            const label = `${l.task ?? ''}${l.attempt ? `#${l.attempt}` : ''}`;
            return logTextRows(l.text).map(row => `${label} ${row}`);
          })
          .join('\n')}
      </pre>
    </section>
  );
}

/** A Gantt strip: each task's attempts on one time axis. */
function Timeline(props: {
  run: IFlowRunDetail;
  trans: TranslationBundle;
}): JSX.Element | null {
  const attempts = props.run.taskRuns.flatMap(t =>
    t.attempts.map(a => ({ task: t.taskName, ...a }))
  );
  if (attempts.length === 0) {
    return null;
  }
  const start = Math.min(...attempts.map(a => Date.parse(a.startedAt)));
  const end = Math.max(
    ...attempts.map(a => (a.endedAt ? Date.parse(a.endedAt) : Date.now())),
    start + 1
  );
  const span = end - start;
  return (
    <div
      className="jp-CellflowTimeline"
      aria-label={props.trans.__('Timeline')}
    >
      {props.run.taskRuns.map(task => (
        <div key={task.id} className="jp-CellflowTimeline-row">
          <span className="jp-CellflowTimeline-label">{task.taskName}</span>
          <span className="jp-CellflowTimeline-track">
            {task.attempts.map(a => {
              const from = Date.parse(a.startedAt);
              const to = a.endedAt ? Date.parse(a.endedAt) : Date.now();
              return (
                <span
                  key={a.id}
                  className="jp-CellflowTimeline-bar"
                  data-state={a.state}
                  title={`${task.taskName} #${a.attempt} ${a.state} ${formatDuration(to - from)}`}
                  style={{
                    left: `${((from - start) / span) * 100}%`,
                    width: `${Math.max(1, ((to - from) / span) * 100)}%`
                  }}
                />
              );
            })}
          </span>
        </div>
      ))}
    </div>
  );
}
