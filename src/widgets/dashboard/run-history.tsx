import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import type { IFlowRun } from '../../api/types.js';
import { RUN_TRIGGERS, type RunTrigger } from '../../flow/run-states.js';
import {
  formatParameters,
  PAST_STATES,
  RunHistoryModel,
  TIME_RANGES,
  type TimeRange
} from '../../model/run-history-model.js';
import { durationText, shortId, timeText } from './format.js';

/**
 * The flow's history: the next planned runs apart, then past runs newest first by when they started
 * (or were due), filtered by state, trigger and time range, a page at a time.
 */
export function RunHistory(props: {
  history: RunHistoryModel;
  selected: string | null;
  trans: TranslationBundle;
  onOpen: (runId: string) => void;
}): JSX.Element {
  const { history, trans } = props;
  const filter = history.filter;
  const triggers: Record<RunTrigger, string> = {
    manual: trans.__('manual'),
    scheduled: trans.__('scheduled'),
    retry: trans.__('retry')
  };
  const ranges: Record<TimeRange, string> = {
    '': trans.__('any time'),
    '1h': trans.__('last hour'),
    '24h': trans.__('last 24 hours'),
    '7d': trans.__('last 7 days'),
    '30d': trans.__('last 30 days')
  };
  return (
    <section
      className="jp-CellflowHistory"
      aria-label={trans.__('Run history')}
    >
      {history.upcoming.length > 0 && (
        <>
          <h3 className="jp-CellflowSection-title">{trans.__('Upcoming')}</h3>
          <RunTable
            runs={history.upcoming}
            label={trans.__('Upcoming runs')}
            selected={props.selected}
            trans={trans}
            onOpen={props.onOpen}
          />
        </>
      )}
      <h3 className="jp-CellflowSection-title">{trans.__('History')}</h3>
      <div className="jp-CellflowHistory-filters">
        <FilterSelect
          label={trans.__('State')}
          value={filter.state}
          options={[
            ['', trans.__('all')],
            ...PAST_STATES.map(state => [state, state] as const)
          ]}
          onChange={state =>
            void history.setFilter({ state: state as typeof filter.state })
          }
        />
        <FilterSelect
          label={trans.__('Trigger')}
          value={filter.trigger}
          options={[
            ['', trans.__('all')],
            ...RUN_TRIGGERS.map(
              trigger => [trigger, triggers[trigger]] as const
            )
          ]}
          onChange={trigger =>
            void history.setFilter({
              trigger: trigger as typeof filter.trigger
            })
          }
        />
        <FilterSelect
          label={trans.__('When')}
          value={filter.range}
          options={(Object.keys(TIME_RANGES) as TimeRange[]).map(
            range => [range, ranges[range]] as const
          )}
          onChange={range =>
            void history.setFilter({ range: range as TimeRange })
          }
        />
      </div>
      {history.error && (
        <p className="jp-CellflowError" role="alert">
          {history.error}
        </p>
      )}
      <RunTable
        runs={history.past}
        label={trans.__('Past runs')}
        selected={props.selected}
        trans={trans}
        onOpen={props.onOpen}
      />
      {history.past.length === 0 && !history.loading && (
        <p className="jp-CellflowHint">{trans.__('No runs match.')}</p>
      )}
      {history.hasMore && (
        <button
          type="button"
          className="jp-mod-styled"
          disabled={history.loading}
          onClick={() => void history.more()}
        >
          {trans.__('Older runs')}
        </button>
      )}
    </section>
  );
}

/** One of the history's filters: a labelled choice of (value, text) pairs. */
function FilterSelect(props: {
  label: string;
  value: string;
  options: readonly (readonly [string, string])[];
  onChange: (value: string) => void;
}): JSX.Element {
  return (
    <label>
      {props.label}
      <select
        className="jp-mod-styled"
        value={props.value}
        onChange={e => props.onChange(e.target.value)}
      >
        {props.options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

function RunTable(props: {
  runs: readonly IFlowRun[];
  label: string;
  selected: string | null;
  trans: TranslationBundle;
  onOpen: (runId: string) => void;
}): JSX.Element {
  const { trans } = props;
  return (
    <table className="jp-CellflowHistory-table" aria-label={props.label}>
      <thead>
        <tr>
          <th>{trans.__('Run')}</th>
          <th>{trans.__('State')}</th>
          <th>{trans.__('Trigger')}</th>
          <th>{trans.__('When')}</th>
          <th>{trans.__('Duration')}</th>
          <th>{trans.__('Parameters')}</th>
        </tr>
      </thead>
      <tbody>
        {props.runs.map(run => (
          <tr
            key={run.id}
            data-run={run.id}
            data-state={run.state}
            className={run.id === props.selected ? 'jp-mod-selected' : ''}
            tabIndex={0}
            onClick={() => props.onOpen(run.id)}
            onKeyDown={e => {
              if (e.key === 'Enter') {
                props.onOpen(run.id);
              }
            }}
          >
            <td className="jp-CellflowHistory-id">{shortId(run.id)}</td>
            <td>
              <span className="jp-CellflowRunState" data-state={run.state}>
                {run.state}
              </span>
            </td>
            <td>{run.trigger}</td>
            <td title={run.startedAt ? trans.__('started') : trans.__('due')}>
              {timeText(run.startedAt ?? run.scheduledAt ?? run.createdAt)}
            </td>
            <td className="jp-CellflowHistory-duration">
              {durationText(run.startedAt, run.endedAt)}
            </td>
            <td className="jp-CellflowHistory-parameters">
              {formatParameters(run.parameters)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
