import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { RunsDashboardModel } from '../../model/runs-dashboard-model.js';
import { timeText } from './format.js';

/** The workspace's flows: each with its schedules, the state of its newest run and its next run. */
export function FlowsList(props: {
  model: RunsDashboardModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  return (
    <table
      className="jp-CellflowFlows"
      aria-label={trans.__('Flows of the workspace')}
    >
      <thead>
        <tr>
          <th>{trans.__('Flow')}</th>
          <th>{trans.__('Schedules')}</th>
          <th>{trans.__('Last run')}</th>
          <th>{trans.__('Next run')}</th>
        </tr>
      </thead>
      <tbody>
        {model.flows.map(flow => {
          const summary = model.summary(flow.id);
          const last = summary?.lastRun ?? null;
          return (
            <tr key={flow.id} data-flow={flow.id}>
              <td>
                <button
                  type="button"
                  className="jp-CellflowFlows-open"
                  onClick={() => void model.selectFlow(flow.id)}
                >
                  {flow.name}
                </button>{' '}
                <span className="jp-CellflowHint">
                  {trans.__('version %1', flow.latestVersion)}
                </span>
              </td>
              <td>
                {summary?.schedules.length === 0 && (
                  <span className="jp-CellflowHint">{trans.__('none')}</span>
                )}
                {summary?.schedules.map(s => (
                  <div key={s.id} data-paused={s.paused}>
                    {s.description}
                    {s.paused && ` (${trans.__('paused')})`}
                  </div>
                ))}
              </td>
              <td>
                {last && (
                  <span className="jp-CellflowRunState" data-state={last.state}>
                    {last.state}
                  </span>
                )}{' '}
                {last && (
                  <span className="jp-CellflowHint">
                    {timeText(
                      last.startedAt ?? last.scheduledAt ?? last.createdAt
                    )}
                  </span>
                )}
              </td>
              <td>{timeText(flow.nextRunAt) || '—'}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
