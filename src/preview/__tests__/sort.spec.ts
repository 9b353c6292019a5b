import { describe, expect, it } from 'vitest';

import { display, nextSort, sortRows } from '../sort.js';
import { readTableSchema } from '../table-schema.js';
import { mixed } from './fixtures.js';

const table = readTableSchema(mixed);
const indexes = (rows: { index: number }[]) => rows.map(r => r.index);

describe('sortRows', () => {
  it('sorts numbers by value both ways, missing values last each time', () => {
    const up = sortRows(table.rows, table.columns, {
      column: 'x',
      direction: 'ascending'
    });
    expect(up.map(r => r.x)).toEqual([0.5, 2.25, null]);
    const down = sortRows(table.rows, table.columns, {
      column: 'x',
      direction: 'descending'
    });
    expect(down.map(r => r.x)).toEqual([2.25, 0.5, null]);
  });

  it('sorts strings, booleans and datetimes by their kind', () => {
    const by = (column: string) =>
      sortRows(table.rows, table.columns, {
        column,
        direction: 'ascending'
      }).map(r => r.index);
    expect(by('s')).toEqual([1, 0, 2]);
    expect(by('b')).toEqual([1, 0, 2]);
    expect(by('d')).toEqual([1, 0, 2]);
    expect(by('n')).toEqual([1, 2, 0]);
  });

  it('compares numbers as numbers and text with numbers in it naturally', () => {
    const columns = readTableSchema({
      schema: {
        fields: [
          { name: 'v', type: 'integer' },
          { name: 't', type: 'string' }
        ]
      },
      data: [
        { v: 10, t: 'item 10' },
        { v: 9, t: 'item 9' },
        { v: 100, t: 'Item 1' }
      ]
    });
    const sorted = (column: string) =>
      sortRows(columns.rows, columns.columns, {
        column,
        direction: 'ascending'
      }).map(r => r[column]);
    expect(sorted('v')).toEqual([9, 10, 100]);
    expect(sorted('t')).toEqual(['Item 1', 'item 9', 'item 10']);
  });

  it('keeps the output order for ties and without a sort, and never changes its input', () => {
    const rows = [
      { index: 0, k: 1 },
      { index: 1, k: 0 },
      { index: 2, k: 1 },
      { index: 3, k: 0 }
    ];
    const columns = [
      { name: 'k', type: 'integer', kind: 'number' as const, isIndex: false }
    ];
    expect(
      indexes(sortRows(rows, columns, { column: 'k', direction: 'descending' }))
    ).toEqual([0, 2, 1, 3]);
    expect(indexes(sortRows(rows, columns, null))).toEqual([0, 1, 2, 3]);
    expect(indexes(rows)).toEqual([0, 1, 2, 3]);
  });

  it('names an unknown column', () => {
    expect(() =>
      sortRows(table.rows, table.columns, {
        column: 'nope',
        direction: 'ascending'
      })
    ).toThrow('Cannot sort by "nope": no such column');
  });
});

describe('nextSort', () => {
  it('cycles ascending, descending, unsorted; another column starts ascending', () => {
    const first = nextSort(null, 'a');
    expect(first).toEqual({ column: 'a', direction: 'ascending' });
    const second = nextSort(first, 'a');
    expect(second).toEqual({ column: 'a', direction: 'descending' });
    expect(nextSort(second, 'a')).toBeNull();
    expect(nextSort(second, 'b')).toEqual({
      column: 'b',
      direction: 'ascending'
    });
  });
});

describe('display', () => {
  it('shows missing as empty and lists as JSON', () => {
    expect(display(null)).toBe('');
    expect(display([1, 'a'])).toBe('[1,"a"]');
    expect(display(false)).toBe('false');
  });
});
