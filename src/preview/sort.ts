/** Sorting of the preview's rows by one column. Pure. */
import type { CellValue, IPreviewColumn } from './table-schema.js';

export type SortDirection = 'ascending' | 'descending';

export interface ISortState {
  column: string;
  direction: SortDirection;
}

/** A header click: ascending first, then descending, then back to the output's own order. */
export function nextSort(
  current: ISortState | null,
  column: string
): ISortState | null {
  if (!current || current.column !== column) {
    return { column, direction: 'ascending' };
  }
  return current.direction === 'ascending'
    ? { column, direction: 'descending' }
    : null;
}

const collator = new Intl.Collator(undefined, {
  numeric: true,
  sensitivity: 'base'
});

function compareValues(
  a: Exclude<CellValue, null>,
  b: Exclude<CellValue, null>,
  kind: IPreviewColumn['kind']
): number {
  if (typeof a === 'number' && typeof b === 'number') {
    return a - b;
  }
  if (typeof a === 'boolean' && typeof b === 'boolean') {
    return Number(a) - Number(b);
  }
  if (kind === 'datetime') {
    const ta = Date.parse(String(a));
    const tb = Date.parse(String(b));
    if (!Number.isNaN(ta) && !Number.isNaN(tb)) {
      return ta - tb;
    }
  }
  return collator.compare(display(a), display(b));
}

/**
 * Rows sorted by `sort` (a new array; the input is left as it is). Missing values go last in both
 * directions, as pandas' sort_values(na_position='last') puts them; ties keep the output's order.
 */
export function sortRows<T extends Record<string, CellValue>>(
  rows: readonly T[],
  columns: readonly IPreviewColumn[],
  sort: ISortState | null
): T[] {
  if (!sort) {
    return [...rows];
  }
  const column = columns.find(c => c.name === sort.column);
  if (!column) {
    throw new Error(`Cannot sort by "${sort.column}": no such column`);
  }
  const sign = sort.direction === 'ascending' ? 1 : -1;
  return rows
    .map((row, i) => ({ row, i }))
    .sort((x, y) => {
      const a = x.row[column.name];
      const b = y.row[column.name];
      const aMissing = a === null || a === undefined;
      const bMissing = b === null || b === undefined;
      if (aMissing || bMissing) {
        return aMissing === bMissing ? x.i - y.i : aMissing ? 1 : -1;
      }
      return sign * compareValues(a, b, column.kind) || x.i - y.i;
    })
    .map(({ row }) => row);
}

/** A value as the table shows it (lists and objects as JSON). */
export function display(value: CellValue): string {
  if (value === null || value === undefined) {
    return '';
  }
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}
