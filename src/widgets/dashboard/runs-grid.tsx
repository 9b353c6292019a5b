import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { RunsDashboardModel } from '../../model/runs-dashboard-model.js';
import { durationText, shortId } from './format.js';
import { parseElementTaskName } from '../../flow/mapping-options.js';

/**
 * The flow's grid, as Airflow's: recent runs as columns (oldest on the left), tasks as rows, each cell
 * coloured by the task's state in that run, with its attempt count when it took more than one; hover
 * for times, click to open the run on that task. A mapped task's elements are rows under it.
 */
export function RunsGrid(props: {
  model: RunsDashboardModel;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { model, trans } = props;
  const runs = model.runs;
  if (runs.length === 0) {
    return null;
  }
  return (
    <table className="jp-CellflowGrid" aria-label={trans.__('Runs by task')}>
      <thead>
        <tr>
          <th scope="col">{trans.__('Task')}</th>
          {runs.map(run => (
            <th
              key={run.id}
              scope="col"
              className="jp-CellflowGrid-run"
              data-state={run.state}
              title={`${shortId(run.id)} · ${run.state} · ${run.trigger}`}
            >
              <button
                type="button"
                className="jp-CellflowGrid-runButton"
                aria-label={trans.__('Run %1, %2', shortId(run.id), run.state)}
                onClick={() => model.selectRun(run.id)}
              />
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {model.tasks.map(task => {
          // An element of a mapped task (`fetch[3]`) is a row of its own under its task, indented.
          const element = parseElementTaskName(task);
          return (
            <tr
              key={task}
              data-task={task}
              {...(element && {
                'data-map-of': element.task,
                className: 'jp-CellflowGrid-element'
              })}
            >
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
                          durationText(cell.startedAt, cell.endedAt),
                          cell.attempts > 1
                            ? trans.__('%1 attempts', cell.attempts)
                            : ''
                        ]
                          .filter(Boolean)
                          .join('\n')}
                        onClick={() => model.selectRun(run.id, task)}
                      >
                        {cell.attempts > 1 ? cell.attempts : ''}
                      </button>
                    )}
                  </td>
                );
              })}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
