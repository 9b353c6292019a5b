/**
 * Data resources exactly as pandas 3.1 writes them (`df._repr_data_resource_()` in the project's .venv),
 * so the preview is tested on what a DataFrame output really carries.
 */

/**
 * pd.DataFrame({'n': [3, 1, 2], 'x': [0.5, np.nan, 2.25], 's': ['b', 'a', None],
 *               'b': [True, False, True], 'd': pd.to_datetime(['2024-01-02', '2024-01-01', None])})
 */
export const mixed = {
  schema: {
    fields: [
      { name: 'index', type: 'integer' },
      { name: 'n', type: 'integer' },
      { name: 'x', type: 'number' },
      { name: 's', type: 'string', extDtype: 'str' },
      { name: 'b', type: 'boolean' },
      { name: 'd', type: 'datetime' }
    ],
    primaryKey: ['index'],
    pandas_version: '1.4.0'
  },
  data: [
    {
      index: 0,
      n: 3,
      x: 0.5,
      s: 'b',
      b: true,
      d: '2024-01-02T00:00:00.000'
    },
    {
      index: 1,
      n: 1,
      x: null,
      s: 'a',
      b: false,
      d: '2024-01-01T00:00:00.000'
    },
    { index: 2, n: 2, x: 2.25, s: null, b: true, d: null }
  ]
};

/** The same frame after .set_index(['s', 'n']): a MultiIndex, named in primaryKey. */
export const multiIndex = {
  schema: {
    fields: [
      { name: 's', type: 'string', extDtype: 'str' },
      { name: 'n', type: 'integer' },
      { name: 'x', type: 'number' }
    ],
    primaryKey: ['s', 'n'],
    pandas_version: '1.4.0'
  },
  data: [
    { s: 'b', n: 3, x: 0.5 },
    { s: 'a', n: 1, x: null },
    { s: null, n: 2, x: 2.25 }
  ]
};
