import { describe, expect, it } from 'vitest';

import { summarize } from '../summaries.js';
import { readTableSchema } from '../table-schema.js';
import { mixed, multiIndex } from './fixtures.js';

// Real danfojs (its Node build loads in about a second), on what pandas writes.
describe('summarize', () => {
  it('describes each data column as pandas describe() would, the index left out', () => {
    const summaries = summarize(readTableSchema(mixed));
    expect(summaries.map(s => s.column)).toEqual(['n', 'x', 's', 'b', 'd']);
    const [n, x, s, b, d] = summaries;
    expect(n).toEqual({
      column: 'n',
      kind: 'number',
      count: 3,
      missing: 0,
      mean: 2,
      min: 1,
      max: 3
    });
    expect(x).toMatchObject({ count: 2, missing: 1, min: 0.5, max: 2.25 });
    expect(x.mean).toBeCloseTo(1.375, 12);
    expect(s).toEqual({
      column: 's',
      kind: 'string',
      count: 2,
      missing: 1,
      unique: 2,
      top: 'b',
      freq: 1
    });
    expect(b).toMatchObject({ count: 3, unique: 2, top: 'true', freq: 2 });
    expect(b.mean).toBeUndefined();
    expect(d).toMatchObject({
      count: 2,
      missing: 1,
      unique: 2,
      min: '2024-01-01T00:00:00.000',
      max: '2024-01-02T00:00:00.000'
    });
  });

  it('keeps numbers exact (no float32 rounding) and dates distinct', () => {
    const summaries = summarize(
      readTableSchema({
        schema: {
          fields: [
            { name: 'index', type: 'integer' },
            { name: 'v', type: 'number' },
            { name: 'day', type: 'string' }
          ],
          primaryKey: ['index']
        },
        data: [
          // The same index label twice: danfojs would refuse it as row labels; it is stripped first.
          { index: 7, v: 123456789.123, day: '2024-01-01' },
          { index: 7, v: 0.1, day: '2024-01-02' },
          { index: 8, v: null, day: '2024-01-02' }
        ]
      })
    );
    expect(summaries[0]).toMatchObject({
      count: 2,
      min: 0.1,
      max: 123456789.123
    });
    expect(summaries[1]).toMatchObject({
      unique: 2,
      top: '2024-01-02',
      freq: 2
    });
  });

  it('gives an all-missing column its count only, and a MultiIndex frame its one data column', () => {
    const [empty] = summarize(
      readTableSchema({
        schema: { fields: [{ name: 'z', type: 'number' }], primaryKey: [] },
        data: [{ z: null }, { z: null }]
      })
    );
    expect(empty).toEqual({
      column: 'z',
      kind: 'number',
      count: 0,
      missing: 2
    });
    expect(summarize(readTableSchema(multiIndex))).toMatchObject([
      { column: 'x', count: 2, min: 0.5, max: 2.25 }
    ]);
  });
});
