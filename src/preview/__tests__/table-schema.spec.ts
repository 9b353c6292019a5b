import { describe, expect, it } from 'vitest';

import {
  dataColumns,
  hasDataResource,
  presentValues,
  readTableSchema
} from '../table-schema.js';
import { mixed, multiIndex } from './fixtures.js';

describe('readTableSchema', () => {
  it('reads pandas columns with their kinds, and marks the index', () => {
    const table = readTableSchema(mixed);
    expect(table.columns.map(c => [c.name, c.type, c.kind, c.isIndex])).toEqual(
      [
        ['index', 'integer', 'number', true],
        ['n', 'integer', 'number', false],
        ['x', 'number', 'number', false],
        ['s', 'string', 'string', false],
        ['b', 'boolean', 'boolean', false],
        ['d', 'datetime', 'datetime', false]
      ]
    );
    expect(table.rows).toHaveLength(3);
    expect(table.rows[1]).toEqual({
      index: 1,
      n: 1,
      x: null,
      s: 'a',
      b: false,
      d: '2024-01-01T00:00:00.000'
    });
    expect(dataColumns(table).map(c => c.name)).toEqual([
      'n',
      'x',
      's',
      'b',
      'd'
    ]);
  });

  it('takes the index columns from primaryKey (a MultiIndex), not from the name "index"', () => {
    const table = readTableSchema(multiIndex);
    expect(dataColumns(table).map(c => c.name)).toEqual(['x']);
    expect(table.columns.filter(c => c.isIndex).map(c => c.name)).toEqual([
      's',
      'n'
    ]);
  });

  it('accepts the resource as JSON text, and fills a field a row lacks with null', () => {
    const table = readTableSchema(
      JSON.stringify({
        schema: { fields: [{ name: 'a', type: 'integer' }, { name: 'b' }] },
        data: [{ a: 1 }]
      })
    );
    expect(table.rows).toEqual([{ a: 1, b: null }]);
    // Without primaryKey, "index" would be the index; here there is none, so both are data.
    expect(table.columns.map(c => [c.name, c.kind, c.isIndex])).toEqual([
      ['a', 'number', false],
      ['b', 'other', false]
    ]);
  });

  it('refuses what is not a table schema, naming what is wrong', () => {
    expect(() => readTableSchema(null)).toThrow(
      'application/vnd.dataresource+json: expected an object with "schema" and "data", got null'
    );
    expect(() => readTableSchema({ data: [] })).toThrow(
      '"schema.fields" is missing'
    );
    expect(() => readTableSchema({ schema: { fields: [] } })).toThrow(
      '"data" is not a list of rows'
    );
    expect(() =>
      readTableSchema({ schema: { fields: [{ type: 'integer' }] }, data: [] })
    ).toThrow('field 0 of "schema.fields" has no name');
    expect(() =>
      readTableSchema({ schema: { fields: [{ name: 'a' }] }, data: [[1]] })
    ).toThrow('row 0 of "data" is a list, not an object');
    expect(() => readTableSchema('{not json')).toThrow('not valid JSON');
  });
});

describe('hasDataResource and presentValues', () => {
  it('finds the mime type in an execute_result and only there', () => {
    expect(
      hasDataResource({
        output_type: 'execute_result',
        data: {
          'text/plain': '…',
          'application/vnd.dataresource+json': mixed
        }
      })
    ).toBe(true);
    expect(
      hasDataResource({ output_type: 'stream', name: 'stdout', text: 'x' })
    ).toBe(false);
    expect(hasDataResource({ data: { 'text/html': '<table/>' } })).toBe(false);
  });

  it('leaves missing values out', () => {
    expect(presentValues(readTableSchema(mixed), 'x')).toEqual([0.5, 2.25]);
  });
});
