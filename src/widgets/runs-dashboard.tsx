import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import React, { useEffect, useState } from 'react';

import type { IFlowRunDetail } from '../api/types.js';
import { ENDED_FLOW_RUN_STATES } from '../flow/run-states.js';
import { formatDuration } from '../model/chip-state.js';
import { RunsDashboardModel } from '../model/runs-dashboard-model.js';

function duration(from?: string | null, to?: string | null): string {
  if (!from) {
    return '';
  }
  return formatDuration((to ? Date.parse(to) : Date.now()) - Date.parse(from));
}

/**
 * "Cellflow runs", in the main area: a flow picker, the flow's grid (recent runs as columns, tasks as
 * rows, each cell coloured by its state, hover for times, click to open the run) and the selected
 * run's Gantt strip (its task attempts on a time axis).
 */
export class RunsDashboard extends ReactWidget {
  constructor(
    readonly model: RunsDashboardModel,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-CellflowDashboard');
    model.changed.connect(this.update, this);
  }

  dispose(): void {
    this.model.changed.disconnect(this.update, this);
    this.model.dispose();
    super.dispose();
  }

  protected render(): JSX.Element {
    return <Dashboard model={this.model} trans={this.trans} />;
  }
}

function Dashboard(props: {
  model: RunsDashboardModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  const runs = model.runs;
  const tasks = model.tasks;
  return (
    <div className="jp-CellflowDashboard-body">
      <div className="jp-CellflowDashboard-toolbar">
        <label>
          {trans.__('Flow')}{' '}
          <select
            className="jp-mod-styled"
            aria-label={trans.__('Flow')}
            value={model.flowId ?? ''}
            onChange={e => void model.selectFlow(e.target.value)}
          >
            {model.flows.map(f => (
              <option key={f.id} value={f.id}>
                {f.name}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          className="jp-mod-styled"
          onClick={() => void model.refresh()}
        >
          {trans.__('Refresh')}
        </button>
        {model.loading && (
          <span className="jp-CellflowHint">{trans.__('Loading…')}</span>
        )}
      </div>
      {model.error && (
        <p className="jp-CellflowError" role="alert">
          {model.error}
        </p>
      )}
      {model.flows.length === 0 && !model.loading && (
        <p className="jp-CellflowHint">
          {trans.__('No flow deployed in this workspace yet.')}
        </p>
      )}
      {runs.length > 0 && (
        <table
          className="jp-CellflowGrid"
          aria-label={trans.__('Runs by task')}
        >
          <thead>
            <tr>
              <th scope="col">{trans.__('Task')}</th>
              {runs.map(run => (
                <th
                  key={run.id}
                  scope="col"
                  className="jp-CellflowGrid-run"
                  data-state={run.state}
                  title={`${run.id.slice(0, 8)} · ${run.state} · ${run.trigger}`}
                >
                  <button
                    type="button"
                    className="jp-CellflowGrid-runButton"
                    aria-label={trans.__(
                      'Run %1, %2',
                      run.id.slice(0, 8),
                      run.state
                    )}
                    onClick={() => model.selectRun(run.id)}
                  />
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {tasks.map(task => (
              <tr key={task} data-task={task}>
                <th scope="row">{task}</th>
                {runs.map(run => {
                  const cell = model.cell(run, task);
                  return (
                    <td key={run.id}>
                      {cell && (
                        <button
                          type="button"
                          className={`jp-CellflowGrid-cell${run.id === model.runId ? ' jp-mod-selected' : ''}`}
                          data-run={run.id}
                          data-state={cell.state}
                          title={[
                            `${task} · ${cell.state}`,
                            cell.startedAt
                              ? new Date(cell.startedAt).toLocaleString()
                              : '',
                            duration(cell.startedAt, cell.endedAt),
                            cell.attempts > 1
                              ? trans.__('%1 attempts', cell.attempts)
                              : ''
                          ]
                            .filter(Boolean)
                            .join('\n')}
                          onClick={() => model.selectRun(run.id)}
                        >
                          {cell.attempts > 1 ? cell.attempts : ''}
                        </button>
                      )}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {model.selectedRun && (
        <RunDetail model={model} run={model.selectedRun} trans={trans} />
      )}
    </div>
  );
}

/** The selected run: its state and times, and the Gantt strip of its attempts (redrawn while it runs). */
function RunDetail(props: {
  model: RunsDashboardModel;
  run: IFlowRunDetail;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, run, trans } = props;
  const running = !ENDED_FLOW_RUN_STATES.includes(run.state);
  const [, tick] = useState(0);
  useEffect(() => {
    if (!running) {
      return;
    }
    const timer = setInterval(() => tick(n => n + 1), 1000);
    return () => clearInterval(timer);
  }, [running]);
  const { bars, spanMs } = model.gantt();
  const tasks = [...new Set(bars.map(b => b.task))];
  const rowHeight = 22;
  const labelWidth = 120;
  const width = 600;
  const scale = (ms: number) =>
    labelWidth + (ms / spanMs) * (width - labelWidth - 8);
  return (
    <section
      className="jp-CellflowDashboard-run"
      aria-label={trans.__('Run %1', run.id.slice(0, 8))}
    >
      <h3 className="jp-CellflowSection-title">
        {trans.__('Run %1', run.id.slice(0, 8))}{' '}
        <span className="jp-CellflowRunState" data-state={run.state}>
          {run.state}
        </span>{' '}
        <span className="jp-CellflowHint">
          {duration(run.startedAt, run.endedAt)}
        </span>
      </h3>
      {run.error && <p className="jp-CellflowError">{run.error}</p>}
      <svg
        className="jp-CellflowGantt"
        role="img"
        aria-label={trans.__('Task attempts on a time axis')}
        width={width}
        height={Math.max(1, tasks.length) * rowHeight + 20}
      >
        {tasks.map((task, row) => (
          <text
            key={task}
            className="jp-CellflowGantt-label"
            x={4}
            y={row * rowHeight + 15}
          >
            {task}
          </text>
        ))}
        {bars.map(bar => (
          <rect
            key={`${bar.task}-${bar.attempt}`}
            className="jp-CellflowGantt-bar"
            data-state={bar.state}
            data-task={bar.task}
            data-attempt={bar.attempt}
            x={scale(bar.fromMs)}
            y={tasks.indexOf(bar.task) * rowHeight + 4}
            width={Math.max(2, scale(bar.toMs) - scale(bar.fromMs))}
            height={rowHeight - 8}
          >
            <title>{`${bar.task} #${bar.attempt} · ${bar.state} · ${formatDuration(bar.toMs - bar.fromMs)}`}</title>
          </rect>
        ))}
        <text
          className="jp-CellflowGantt-axis"
          x={width - 8}
          y={Math.max(1, tasks.length) * rowHeight + 16}
          textAnchor="end"
        >
          {formatDuration(spanMs)}
        </text>
      </svg>
    </section>
  );
}
