import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import React from 'react';

import { RunsDashboardModel } from '../model/runs-dashboard-model.js';
import { DurationsChart } from './dashboard/durations-chart.js';
import { FlowsList } from './dashboard/flows-list.js';
import { RunHistory } from './dashboard/run-history.js';
import { RunPage } from './dashboard/run-page.js';
import { RunsGrid } from './dashboard/runs-grid.js';

/**
 * "Cellflow runs", in the main area: the workspace's flows; a flow's durations chart, grid (recent
 * runs as columns, tasks as rows) and history; the chosen run beside them, with its Gantt strip,
 * outputs, logs and actions.
 */
export class RunsDashboard extends ReactWidget {
  constructor(
    readonly model: RunsDashboardModel,
    private readonly rendermime: IRenderMimeRegistry,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-CellflowDashboard');
    model.changed.connect(this.update, this);
    // Running runs' durations count up: redrawn every second while one runs, never otherwise.
    this._timer = window.setInterval(() => {
      if (model.runs.some(r => r.state === 'Running')) {
        this.update();
      }
    }, 1000);
  }

  dispose(): void {
    window.clearInterval(this._timer);
    this.model.changed.disconnect(this.update, this);
    this.model.dispose();
    super.dispose();
  }

  protected render(): JSX.Element {
    return (
      <Dashboard
        model={this.model}
        rendermime={this.rendermime}
        trans={this.trans}
      />
    );
  }

  private readonly _timer: number;
}

function Dashboard(props: {
  model: RunsDashboardModel;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  const flow = model.flow;
  return (
    <div className="jp-CellflowDashboard-body">
      <div className="jp-CellflowDashboard-toolbar">
        <button
          type="button"
          className="jp-mod-styled jp-mod-minimal"
          disabled={!flow}
          onClick={() => void model.selectFlow(null)}
        >
          {trans.__('All flows')}
        </button>
        <label>
          {trans.__('Flow')}{' '}
          <select
            className="jp-mod-styled"
            aria-label={trans.__('Flow')}
            value={model.flowId ?? ''}
            onChange={e => void model.selectFlow(e.target.value || null)}
          >
            <option value="">{trans.__('(all flows)')}</option>
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
      {!flow && model.flows.length > 0 && (
        <FlowsList model={model} trans={trans} />
      )}
      {flow && (
        <>
          <div className="jp-CellflowDashboard-overview">
            <DurationsChart
              bars={model.durations()}
              selected={model.runId}
              trans={trans}
              onOpen={id => model.selectRun(id)}
            />
            <RunsGrid model={model} trans={trans} />
          </div>
          <div className="jp-CellflowDashboard-split">
            {model.history && (
              <RunHistory
                history={model.history}
                selected={model.runId}
                trans={trans}
                onOpen={id => model.selectRun(id)}
              />
            )}
            {model.runView && (
              <RunPage
                model={model}
                view={model.runView}
                rendermime={props.rendermime}
                trans={trans}
              />
            )}
          </div>
        </>
      )}
    </div>
  );
}
