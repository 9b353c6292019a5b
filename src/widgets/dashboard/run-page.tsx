import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import React, { useEffect, useRef, useState } from 'react';

import type { IFlowRunDetail } from '../../api/types.js';
import { ENDED_FLOW_RUN_STATES } from '../../flow/run-states.js';
import { formatParameters } from '../../model/run-history-model.js';
import { RunsDashboardModel } from '../../model/runs-dashboard-model.js';
import { RunViewModel } from '../../model/run-view-model.js';
import { DataPreviewSlot } from '../../preview/data-preview-slot.js';
import { isOutput, OutputView } from '../output-view.js';
import { durationText, shortId, timeText } from './format.js';
import { GanttStrip } from './gantt.js';
import { LogView } from './log-view.js';

/**
 * One run in the main area: its state, times and parameters; only the actions its state allows
 * (Cancel while it has not ended; Retry from failed once it Failed, Crashed or was Cancelled, which
 * then shows the new run); the executed notebook; the Gantt strip of its attempts; each task's
 * outputs with room (the data preview full width); and its logs.
 */
export function RunPage(props: {
  model: RunsDashboardModel;
  view: RunViewModel;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, view, rendermime, trans } = props;
  const run = view.run;
  const running = !!run && !ENDED_FLOW_RUN_STATES.includes(run.state);
  const section = useRef<HTMLElement>(null);
  // A run chosen in the history (under it when the area is narrow) comes into sight.
  useEffect(() => {
    section.current?.scrollIntoView?.({ block: 'nearest' });
  }, [view.runId, !!run]);
  const [, tick] = useState(0);
  useEffect(() => {
    if (!running) {
      return;
    }
    // Durations and the open bars grow while it runs.
    const timer = setInterval(() => tick(n => n + 1), 1000);
    return () => clearInterval(timer);
  }, [running]);
  if (!run) {
    return (
      <section className="jp-CellflowRunPage">
        <p className={view.error ? 'jp-CellflowError' : 'jp-CellflowHint'}>
          {view.error ?? trans.__('Loading the run…')}
        </p>
      </section>
    );
  }
  const { bars, spanMs } = model.gantt();
  const tasks = run.taskRuns.map(t => t.taskName);
  const shown = view.task
    ? run.taskRuns.filter(t => t.taskName === view.task)
    : run.taskRuns;
  return (
    <section
      className="jp-CellflowRunPage"
      aria-label={trans.__('Run %1', shortId(run.id))}
      data-run={run.id}
      ref={section}
    >
      <h3 className="jp-CellflowSection-title">
        {trans.__('Run %1', shortId(run.id))}{' '}
        <span className="jp-CellflowRunState" data-state={run.state}>
          {run.state}
        </span>
      </h3>
      <RunFacts run={run} trans={trans} />
      {run.error && <p className="jp-CellflowError">{run.error}</p>}
      {run.waitingFor && (
        <p className="jp-CellflowHint jp-CellflowRunPage-waiting">
          {trans.__('Waiting for %1', run.waitingFor)}
        </p>
      )}
      {view.error && (
        <p className="jp-CellflowError" role="alert">
          {view.error}
        </p>
      )}
      <div className="jp-CellflowActions-buttons">
        {view.actions.includes('cancel') && (
          <button
            type="button"
            className="jp-mod-styled jp-mod-warn"
            disabled={view.isBusy('cancel')}
            onClick={() => void view.cancel()}
          >
            {trans.__('Cancel')}
          </button>
        )}
        {view.actions.includes('retry') && (
          <button
            type="button"
            className="jp-mod-styled jp-mod-accept"
            disabled={view.isBusy('retry')}
            onClick={() => void model.retrySelected()}
          >
            {trans.__('Retry from failed')}
          </button>
        )}
        <a
          className="jp-mod-styled jp-CellflowLink"
          href={model.notebookUrl(run.id)}
          download={`${run.id}.ipynb`}
        >
          {trans.__('Executed notebook')}
        </a>
      </div>
      <GanttStrip
        bars={bars}
        spanMs={spanMs}
        trans={trans}
        onTask={task => (view.task = task)}
      />
      {view.task && (
        <p className="jp-CellflowHint">
          {trans.__('Showing task %1.', view.task)}{' '}
          <button
            type="button"
            className="jp-mod-styled jp-mod-minimal"
            onClick={() => (view.task = null)}
          >
            {trans.__('Show every task')}
          </button>
        </p>
      )}
      {shown.map(task => {
        const last = task.attempts[task.attempts.length - 1];
        return (
          <div
            key={task.id}
            className="jp-CellflowRunPage-task"
            data-task={task.taskName}
          >
            <h4>
              {task.taskName}{' '}
              <span className="jp-CellflowRunState" data-state={task.state}>
                {task.state}
              </span>{' '}
              <span className="jp-CellflowHint">
                {durationText(task.startedAt, task.endedAt)}
                {task.attempts.length > 1 &&
                  ` · ${trans.__('%1 attempts', task.attempts.length)}`}
              </span>
            </h4>
            {task.error && <p className="jp-CellflowError">{task.error}</p>}
            {(last?.outputs ?? []).filter(isOutput).map((output, i) => (
              <React.Fragment key={i}>
                <OutputView output={output} rendermime={rendermime} />
                <DataPreviewSlot output={output} trans={trans} />
              </React.Fragment>
            ))}
            {last?.outputsTruncated && (
              <p className="jp-CellflowHint">
                {trans.__('Outputs cut at the server’s limit.')}
              </p>
            )}
          </div>
        );
      })}
      <LogView view={view} tasks={tasks} trans={trans} />
    </section>
  );
}

function RunFacts(props: {
  run: IFlowRunDetail;
  trans: TranslationBundle;
}): JSX.Element {
  const { run, trans } = props;
  const parameters = formatParameters(run.parameters);
  return (
    <dl className="jp-CellflowRunPage-facts">
      <dt>{trans.__('Trigger')}</dt>
      <dd>
        {run.trigger}
        {run.retryOf && ` (${trans.__('of run %1', shortId(run.retryOf))})`}
      </dd>
      {run.scheduledAt && (
        <>
          <dt>{trans.__('Due')}</dt>
          <dd>{timeText(run.scheduledAt)}</dd>
        </>
      )}
      {run.startedAt && (
        <>
          <dt>{trans.__('Started')}</dt>
          <dd>{timeText(run.startedAt)}</dd>
          <dt>{trans.__('Duration')}</dt>
          <dd>{durationText(run.startedAt, run.endedAt)}</dd>
        </>
      )}
      <dt>{trans.__('Version')}</dt>
      <dd>{run.flowVersion}</dd>
      {parameters && (
        <>
          <dt>{trans.__('Parameters')}</dt>
          <dd>{parameters}</dd>
        </>
      )}
    </dl>
  );
}
