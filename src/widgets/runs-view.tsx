import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import React from 'react';

import type { IFlowRun } from '../api/types.js';
import { scheduledIcon, startedIcon } from '../icons.js';
import { formatParameters } from '../model/run-history-model.js';
import { RemoteFlowModel } from '../model/remote-flow.js';
import { durationText } from './dashboard/format.js';

/** How many of the flow's past runs the panel lists; "Open runs" shows them all. */
export const RECENT_RUNS = 5;

/**
 * The active notebook's flow's last few runs, at a glance: state, trigger, times, duration and
 * parameters, and when it runs next. A run opens in "Cellflow runs", in the main area, where a run has
 * room for its outputs and logs.
 */
export class RunsView extends ReactWidget {
  constructor(
    private readonly trans: TranslationBundle,
    /** Opens "Cellflow runs" in the main area on a flow (and run). */
    private readonly openRuns: (flowId: string, runId?: string) => void
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
    this.update();
  }

  dispose(): void {
    window.clearInterval(this._timer);
    this.remote = null;
    super.dispose();
  }

  protected render(): JSX.Element | null {
    const flow = this._remote?.flow;
    if (!this._remote || !flow) {
      return null;
    }
    return (
      <RecentRuns
        runs={this._remote.runs}
        trans={this.trans}
        onOpen={runId => this.openRuns(flow.id, runId)}
      />
    );
  }

  private _remote: RemoteFlowModel | null = null;
  private readonly _timer: number;
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

function RecentRuns(props: {
  runs: readonly IFlowRun[];
  trans: TranslationBundle;
  /** Opens a run (no id: the flow) in "Cellflow runs". */
  onOpen: (runId?: string) => void;
}): JSX.Element {
  const { trans, onOpen } = props;
  // Planned runs are made ahead of time: the list shows what happened, and the next one apart.
  const past = props.runs.filter(r => r.state !== 'Scheduled');
  const next = props.runs
    .filter(r => r.state === 'Scheduled' && r.scheduledAt)
    .map(r => r.scheduledAt!)
    .sort()[0];
  return (
    <section aria-label={trans.__('Runs')}>
      <h3 className="jp-CellflowSection-title">{trans.__('Runs')}</h3>
      <div className="jp-CellflowActions-buttons">
        <button
          type="button"
          className="jp-mod-styled"
          onClick={() => onOpen()}
        >
          {trans.__('Open runs')}
        </button>
      </div>
      {next && (
        <p className="jp-CellflowRuns-next">
          <scheduledIcon.react {...WHEN_ICON} />
          {trans.__('Next run at %1', time(next))}
        </p>
      )}
      <table className="jp-CellflowRuns-table">
        <thead>
          <tr>
            <th>{trans.__('State')}</th>
            <th>{trans.__('When')}</th>
            <th>{trans.__('Parameters')}</th>
          </tr>
        </thead>
        <tbody>
          {past.slice(0, RECENT_RUNS).map(run => (
            <tr
              key={run.id}
              data-run={run.id}
              data-state={run.state}
              tabIndex={0}
              aria-label={trans.__('Run %1, %2', run.id.slice(0, 8), run.state)}
              title={trans.__('Open in Cellflow runs')}
              onClick={() => onOpen(run.id)}
              onKeyDown={e => {
                if (e.key === 'Enter') {
                  onOpen(run.id);
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
                  <span title={trans.__('duration')}>
                    {durationText(run.startedAt, run.endedAt)}
                  </span>
                )}
              </td>
              <td className="jp-CellflowRuns-parameters">
                {formatParameters(run.parameters)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {past.length === 0 && (
        <p className="jp-CellflowHint">{trans.__('No runs yet.')}</p>
      )}
    </section>
  );
}
