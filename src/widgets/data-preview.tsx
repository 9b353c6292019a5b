/**
 * The data preview of a DataFrame output: a table sortable by any column, with a summary of each data
 * column. Loaded on first use (src/preview/data-preview-slot.tsx imports it dynamically), and it loads
 * danfojs for the summaries in turn, so neither is in the extension's initial bundle.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import React, { useEffect, useMemo, useState } from 'react';

import { formatNumber } from '../preview/format.js';
import {
  display,
  nextSort,
  sortRows,
  type ISortState
} from '../preview/sort.js';
import type { IColumnSummary } from '../preview/summaries.js';
import {
  readTableSchema,
  type IPreviewColumn,
  type IPreviewTable
} from '../preview/table-schema.js';

/** Rows drawn at most; sorting still covers all of them. */
const MAX_ROWS_SHOWN = 1000;

type Summaries =
  | { state: 'loading' }
  | { state: 'ready'; byColumn: Map<string, IColumnSummary> }
  | { state: 'failed'; message: string };

/** Preview of one `application/vnd.dataresource+json` value (pandas' table schema). */
export function DataPreview(props: {
  data: unknown;
  trans: TranslationBundle;
}): JSX.Element {
  const { trans } = props;
  const parsed = useMemo(() => {
    try {
      return { table: readTableSchema(props.data) };
    } catch (e) {
      return { error: (e as Error).message };
    }
  }, [props.data]);
  if (!parsed.table) {
    return (
      <div className="jp-CellflowPreview">
        <p className="jp-CellflowError">
          {trans.__('Cannot preview this output: %1', parsed.error)}
        </p>
      </div>
    );
  }
  return <PreviewTable table={parsed.table} trans={trans} />;
}

function PreviewTable(props: {
  table: IPreviewTable;
  trans: TranslationBundle;
}): JSX.Element {
  const { table, trans } = props;
  const [sort, setSort] = useState<ISortState | null>(null);
  const summaries = useSummaries(table);
  const rows = useMemo(
    () => sortRows(table.rows, table.columns, sort),
    [table, sort]
  );
  const shown = rows.slice(0, MAX_ROWS_SHOWN);
  return (
    <div className="jp-CellflowPreview">
      <p className="jp-CellflowPreview-shape">
        {trans._n('%1 row', '%1 rows', table.rows.length)}
        {' × '}
        {trans._n(
          '%1 column',
          '%1 columns',
          table.columns.filter(c => !c.isIndex).length
        )}
        {rows.length > shown.length &&
          ` · ${trans.__('showing the first %1', String(shown.length))}`}
      </p>
      {summaries.state === 'failed' && (
        <p className="jp-CellflowError">
          {trans.__('Cannot compute the summaries: %1', summaries.message)}
        </p>
      )}
      <div className="jp-CellflowPreview-scroll">
        <table
          className="jp-CellflowPreview-table"
          aria-busy={summaries.state === 'loading'}
        >
          <thead>
            <tr>
              {table.columns.map(column => (
                <HeaderCell
                  key={column.name}
                  column={column}
                  sort={sort}
                  trans={trans}
                  onSort={() =>
                    setSort(current => nextSort(current, column.name))
                  }
                />
              ))}
            </tr>
            <tr className="jp-CellflowPreview-summaries">
              {table.columns.map(column => (
                <td key={column.name} data-column={column.name}>
                  {column.isIndex ? null : summaries.state === 'loading' ? (
                    <span className="jp-CellflowHint">
                      {trans.__('Computing…')}
                    </span>
                  ) : summaries.state === 'ready' ? (
                    <SummaryList
                      summary={summaries.byColumn.get(column.name)}
                      trans={trans}
                    />
                  ) : null}
                </td>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.map((row, i) => (
              <tr key={i}>
                {table.columns.map(column => {
                  const value = row[column.name];
                  const content =
                    value === null ? (
                      <span
                        className="jp-CellflowPreview-missing"
                        title={trans.__('missing')}
                      >
                        {column.kind === 'datetime' ? 'NaT' : 'NaN'}
                      </span>
                    ) : (
                      display(value)
                    );
                  return column.isIndex ? (
                    <th key={column.name} scope="row">
                      {content}
                    </th>
                  ) : (
                    <td key={column.name} data-kind={column.kind}>
                      {content}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/** A column header: a button, so sorting works from the keyboard (Tab, then Enter or Space). */
function HeaderCell(props: {
  column: IPreviewColumn;
  sort: ISortState | null;
  trans: TranslationBundle;
  onSort: () => void;
}): JSX.Element {
  const { column, sort, trans } = props;
  const direction = sort?.column === column.name ? sort.direction : null;
  return (
    <th
      scope="col"
      aria-sort={direction ?? 'none'}
      data-column={column.name}
      className={column.isIndex ? 'jp-CellflowPreview-index' : undefined}
    >
      <button
        type="button"
        className="jp-CellflowPreview-sort"
        title={
          direction === 'ascending'
            ? trans.__('Sort by %1, descending', column.name)
            : direction === 'descending'
              ? trans.__('Back to the output’s order')
              : trans.__('Sort by %1, ascending', column.name)
        }
        onClick={props.onSort}
      >
        <span>{column.name}</span>
        <span className="jp-CellflowPreview-arrow" aria-hidden="true">
          {direction === 'ascending'
            ? '▲'
            : direction === 'descending'
              ? '▼'
              : ''}
        </span>
      </button>
      <span className="jp-CellflowPreview-type">{column.type}</span>
    </th>
  );
}

function SummaryList(props: {
  summary: IColumnSummary | undefined;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { summary, trans } = props;
  if (!summary) {
    return null;
  }
  const show = (value: number | string) =>
    typeof value === 'number' ? formatNumber(value) : value;
  const items: [string, string, string][] = [
    ['count', trans.__('count'), String(summary.count)]
  ];
  if (summary.missing > 0) {
    items.push(['missing', trans.__('missing'), String(summary.missing)]);
  }
  if (summary.mean !== undefined) {
    items.push(['mean', trans.__('mean'), show(summary.mean)]);
  }
  if (summary.min !== undefined) {
    items.push(['min', trans.__('min'), show(summary.min)]);
  }
  if (summary.max !== undefined) {
    items.push(['max', trans.__('max'), show(summary.max)]);
  }
  if (summary.unique !== undefined) {
    items.push(['unique', trans.__('unique'), String(summary.unique)]);
  }
  if (summary.top !== undefined) {
    items.push([
      'top',
      trans.__('top'),
      trans.__('%1 (%2×)', summary.top, String(summary.freq))
    ]);
  }
  return (
    <dl className="jp-CellflowPreview-summary">
      {items.map(([key, label, value]) => (
        <div key={key} data-stat={key}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** The table's summaries, computed with danfojs once its chunk has loaded. */
function useSummaries(table: IPreviewTable): Summaries {
  const [summaries, setSummaries] = useState<Summaries>({ state: 'loading' });
  useEffect(() => {
    let alive = true;
    setSummaries({ state: 'loading' });
    import('../preview/summaries.js')
      .then(({ summarize }) => {
        const byColumn = new Map(
          summarize(table).map(summary => [summary.column, summary])
        );
        if (alive) {
          setSummaries({ state: 'ready', byColumn });
        }
      })
      .catch((e: unknown) => {
        if (alive) {
          setSummaries({
            state: 'failed',
            message: e instanceof Error ? e.message : String(e)
          });
        }
      });
    return () => {
      alive = false;
    };
  }, [table]);
  return summaries;
}
