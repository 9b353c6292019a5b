import { TranslationBundle } from '@jupyterlab/translation';
import React, { useLayoutEffect, useRef } from 'react';

import { ansiSegments } from '../../model/ansi.js';
import { RunViewModel } from '../../model/run-view-model.js';

/**
 * A run's logs: one row per line of text with its task and attempt, ANSI colours in the theme's
 * output colours, a search over the text, a task filter, and "Follow" keeping the newest line in
 * sight while lines stream in.
 */
export function LogView(props: {
  view: RunViewModel;
  tasks: string[];
  trans: TranslationBundle;
}): JSX.Element {
  const { view, trans } = props;
  const rows = view.logRows;
  const box = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    if (view.follow && box.current) {
      box.current.scrollTop = box.current.scrollHeight;
    }
  }, [rows.length, view.follow]);
  return (
    <section className="jp-CellflowLogView" aria-label={trans.__('Logs')}>
      <div className="jp-CellflowLogView-toolbar">
        <h4>{trans.__('Logs')}</h4>
        <select
          className="jp-mod-styled"
          aria-label={trans.__('Task')}
          value={view.task ?? ''}
          onChange={e => (view.task = e.target.value || null)}
        >
          <option value="">{trans.__('all tasks')}</option>
          {props.tasks.map(task => (
            <option key={task} value={task}>
              {task}
            </option>
          ))}
        </select>
        <input
          type="search"
          className="jp-mod-styled jp-CellflowLogView-search"
          placeholder={trans.__('Search the logs')}
          aria-label={trans.__('Search the logs')}
          value={view.search}
          onChange={e => (view.search = e.target.value)}
        />
        <label>
          <input
            type="checkbox"
            checked={view.follow}
            onChange={e => (view.follow = e.target.checked)}
          />{' '}
          {trans.__('Follow')}
        </label>
        <span className="jp-CellflowHint">
          {trans.__('%1 of %2 lines', rows.length, view.logs.length)}
        </span>
      </div>
      <div
        className="jp-CellflowLogView-lines jp-RenderedText"
        ref={box}
        data-mime-type="application/vnd.jupyter.stdout"
      >
        <pre>
          {rows.map(row => (
            <div
              key={row.id}
              className="jp-CellflowLogView-row"
              data-task={row.task ?? ''}
              data-stream={row.stream}
            >
              <span className="jp-CellflowLogView-label">{row.label}</span>
              {ansiSegments(row.text).map((segment, i) =>
                segment.classes ? (
                  <span key={i} className={segment.classes}>
                    {segment.text}
                  </span>
                ) : (
                  <React.Fragment key={i}>{segment.text}</React.Fragment>
                )
              )}
            </div>
          ))}
        </pre>
      </div>
    </section>
  );
}
