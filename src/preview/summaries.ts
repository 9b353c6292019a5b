/**
 * Column summaries of a preview table, computed with danfojs (as pandas' describe() would: count, then
 * mean/min/max for numbers, unique/top for the rest). danfojs is large (5.6 MB min), so only the data
 * preview imports this module, and only once its summaries are first shown: it is a chunk of its own.
 */
import { Series } from 'danfojs';

import {
  dataColumns,
  presentValues,
  type ColumnKind,
  type IPreviewTable
} from './table-schema.js';
import { display } from './sort.js';

export interface IColumnSummary {
  column: string;
  kind: ColumnKind;
  /** Values present (not NaN/None/NaT). */
  count: number;
  missing: number;
  /** Numbers only. */
  mean?: number;
  min?: number | string;
  max?: number | string;
  /** Everything but numbers. */
  unique?: number;
  top?: string;
  /** How often `top` occurs. */
  freq?: number;
}

/** Summaries of the table's data columns (its index columns are left out), in column order. */
export function summarize(table: IPreviewTable): IColumnSummary[] {
  return dataColumns(table).map(column => {
    const values = presentValues(table, column.name);
    const summary: IColumnSummary = {
      column: column.name,
      kind: column.kind,
      count: values.length,
      missing: table.rows.length - values.length
    };
    if (values.length === 0) {
      // danfojs cannot build a Series of nothing: an all-missing column has its count only.
      return summary;
    }
    if (column.kind === 'number') {
      const numbers = new Series(values.filter(v => typeof v === 'number'));
      summary.count = numbers.count();
      summary.mean = numbers.mean();
      summary.min = numbers.min();
      summary.max = numbers.max();
      return summary;
    }
    if (column.kind === 'datetime') {
      // Earliest and latest by time, shown as the output wrote them.
      const times = values.map(v => Date.parse(String(v)));
      const valid = times.filter(t => !Number.isNaN(t));
      if (valid.length > 0) {
        const series = new Series(valid);
        summary.min = String(values[times.indexOf(series.min())]);
        summary.max = String(values[times.indexOf(series.max())]);
      }
    }
    const labels = values.map(v => display(v));
    summary.unique = new Series(labels).nUnique();
    Object.assign(summary, mostFrequent(labels));
    return summary;
  });
}

/**
 * The most frequent label and its count (on a tie, the label that reached that count first). Counted here, not with danfojs's
 * valueCounts(): in 1.2.0 it turns labels back into numbers with parseInt, so "2024-01-01" and
 * "2024-01-02" both become 2024 and it throws "Row index must contain unique values".
 */
function mostFrequent(labels: string[]): { top: string; freq: number } {
  const counts = new Map<string, number>();
  let top = labels[0];
  let freq = 0;
  for (const label of labels) {
    const n = (counts.get(label) ?? 0) + 1;
    counts.set(label, n);
    if (n > freq) {
      top = label;
      freq = n;
    }
  }
  return { top, freq };
}
