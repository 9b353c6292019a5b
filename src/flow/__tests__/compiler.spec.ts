import { describe, expect, it } from 'vitest';

import { compileNotebook } from '../compiler.js';
import { sha256Hex, canonicalJson } from '../hash.js';
import type { CompileResult, FlowProblem, FlowSpec } from '../spec.js';

type Cell = Record<string, unknown>;

const code = (
  source: string,
  metadata: Record<string, unknown> = {},
  id?: string
): Cell => ({
  cell_type: 'code',
  ...(id ? { id } : {}),
  metadata,
  // nbformat stores sources as lists of lines; the compiler must read both forms.
  source: source.split(/(?<=\n)/),
  outputs: [],
  execution_count: null
});
const markdown = (source: string): Cell => ({
  cell_type: 'markdown',
  metadata: {},
  source
});
const notebook = (cells: Cell[], metadata: Record<string, unknown> = {}) => ({
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {
    kernelspec: {
      name: 'python3',
      display_name: 'Python 3',
      language: 'python'
    },
    ...metadata
  },
  cells
});
const tasks = (...sources: string[]) => notebook(sources.map(s => code(s)));

function spec(result: CompileResult): FlowSpec {
  if (!result.ok) {
    throw new Error(
      'expected a spec, got problems:\n' +
        result.problems.map(p => p.message).join('\n')
    );
  }
  return result.spec;
}
function problems(result: CompileResult): FlowProblem[] {
  if (result.ok) {
    throw new Error('expected problems, got a spec');
  }
  return result.problems;
}

const etl = () =>
  notebook(
    [
      markdown('# Users ETL'),
      code(
        "url = 'http://localhost:8000/users'  # the users API\nout_dir = 'out'",
        { tags: ['parameters'] },
        'params'
      ),
      code('import requests\nimport pandas as pd\n', {}, 'imports'),
      code(
        '%%task extract --retries 3 --retry-delay 10\nraw = requests.get(url).json()',
        {},
        'c-extract'
      ),
      markdown('Flatten the users into a table.'),
      code('%%task transform\ndf = pd.json_normalize(raw)', {}, 'c-transform'),
      code('import os', {}, 'import-os'),
      code(
        "%%task load --after transform --timeout 60\nos.makedirs(out_dir, exist_ok=True)\ndf.to_csv(os.path.join(out_dir, 'users.csv'))",
        {},
        'c-load'
      ),
      code('   \n', {}, 'blank'),
      code("print('done')", {}, 'bye'),
      code('df.head()', { cellflow: { skip: true } }, 'peek'),
      { cell_type: 'raw', metadata: {}, source: 'raw text' }
    ],
    { cellflow: { name: 'users-etl' } }
  );

describe('compileNotebook: the ETL notebook', () => {
  it('compiles to tasks with their setup, dependencies, settings and parameters', () => {
    const result = compileNotebook(etl());
    const flow = spec(result);
    expect(result.warnings).toEqual([]);
    expect(flow).toEqual({
      version: 1,
      name: 'users-etl',
      parameters: [
        {
          name: 'url',
          type: 'string',
          default: 'http://localhost:8000/users',
          required: false,
          description: 'the users API'
        },
        { name: 'out_dir', type: 'string', default: 'out', required: false }
      ],
      parametersCell: {
        cellId: 'params',
        cellIndex: 1,
        code: "url = 'http://localhost:8000/users'  # the users API\nout_dir = 'out'"
      },
      tasks: [
        {
          name: 'extract',
          cellId: 'c-extract',
          cellIndex: 3,
          code: 'raw = requests.get(url).json()',
          setup: [
            {
              cellId: 'imports',
              cellIndex: 2,
              code: 'import requests\nimport pandas as pd\n'
            }
          ],
          upstream: [],
          retries: 3,
          retryDelay: 10,
          backoff: 1,
          timeout: null
        },
        {
          name: 'transform',
          cellId: 'c-transform',
          cellIndex: 5,
          code: 'df = pd.json_normalize(raw)',
          setup: [],
          upstream: ['extract'],
          retries: 0,
          retryDelay: 0,
          backoff: 1,
          timeout: null
        },
        {
          name: 'load',
          cellId: 'c-load',
          cellIndex: 7,
          code: "os.makedirs(out_dir, exist_ok=True)\ndf.to_csv(os.path.join(out_dir, 'users.csv'))",
          setup: [{ cellId: 'import-os', cellIndex: 6, code: 'import os' }],
          upstream: ['transform'],
          retries: 0,
          retryDelay: 0,
          backoff: 1,
          timeout: 60
        }
      ],
      teardown: [{ cellId: 'bye', cellIndex: 9, code: "print('done')" }],
      hash: flow.hash
    });
  });

  it('hashes the canonical JSON of the spec without its hash, stably', () => {
    const flow = spec(compileNotebook(etl()));
    const { hash, ...rest } = flow;
    expect(hash).toBe(sha256Hex(canonicalJson(rest)));
    expect(spec(compileNotebook(JSON.parse(JSON.stringify(etl())))).hash).toBe(
      hash
    );
    const changed = etl();
    changed.cells[5] = code(
      '%%task transform\ndf = pd.DataFrame(raw)',
      {},
      'c-transform'
    );
    expect(spec(compileNotebook(changed)).hash).not.toBe(hash);
  });

  it('takes the flow name from the options first, then metadata, then "flow"', () => {
    expect(spec(compileNotebook(etl(), { name: 'nightly' })).name).toBe(
      'nightly'
    );
    const unnamed = etl();
    unnamed.metadata = {} as typeof unnamed.metadata;
    expect(spec(compileNotebook(unnamed)).name).toBe('flow');
  });

  it('names an unnamed notebook after its file, the one rule of the lab, compile and deploy', () => {
    const unnamed = etl();
    unnamed.metadata = {} as typeof unnamed.metadata;
    const named = (path: string) =>
      spec(compileNotebook(unnamed, { path })).name;
    expect(named('Untitled.ipynb')).toBe('untitled');
    expect(named('reports/ETL daily.ipynb')).toBe('etl_daily');
    expect(named('C:\\work\\Sales Report.IPYNB')).toBe('sales_report');
    expect(named('dir/%%%.ipynb')).toBe('flow');
    // The notebook's own name wins over its file's; an explicit name over both.
    expect(spec(compileNotebook(etl(), { path: 'x.ipynb' })).name).toBe(
      spec(compileNotebook(etl())).name
    );
    expect(
      spec(compileNotebook(unnamed, { path: 'x.ipynb', name: 'given' })).name
    ).toBe('given');
  });
});

describe('compileNotebook: tasks and order', () => {
  it('reads tasks from cell metadata alone, the %%task line winning where both are given', () => {
    const nb = notebook([
      code('a = 1', {
        cellflow: { task: { name: 'first', retries: 2, backoff: 2 } }
      }),
      code('%%task second --retries 4\nb = a', {
        cellflow: { task: { name: 'second', retries: 1, timeout: 5 } }
      })
    ]);
    const flow = spec(compileNotebook(nb));
    expect(
      flow.tasks.map(t => [
        t.name,
        t.code,
        t.retries,
        t.backoff,
        t.timeout,
        t.upstream
      ])
    ).toEqual([
      ['first', 'a = 1', 2, 2, null, []],
      ['second', 'b = a', 4, 1, 5, ['first']]
    ]);
  });

  it('puts tasks in dependency order, notebook order among the ready ones', () => {
    const flow = spec(
      compileNotebook(
        tasks(
          '%%task load --after transform\n',
          '%%task transform --after extract\n',
          '%%task extract --after=\n',
          '%%task report --after=\n',
          '%%task audit --after extract\n'
        )
      )
    );
    expect(flow.tasks.map(t => t.name)).toEqual([
      'extract',
      'transform',
      'load',
      'report',
      'audit'
    ]);
    expect(flow.tasks.map(t => t.cellIndex)).toEqual([2, 1, 0, 3, 4]);
  });

  it('runs a diamond in notebook order among ready tasks', () => {
    const flow = spec(
      compileNotebook(
        tasks(
          '%%task a',
          '%%task c --after a',
          '%%task b --after a',
          '%%task d --after b,c'
        )
      )
    );
    expect(flow.tasks.map(t => [t.name, t.upstream])).toEqual([
      ['a', []],
      ['c', ['a']],
      ['b', ['a']],
      ['d', ['b', 'c']]
    ]);
  });

  it('gives cells without ids (nbformat < 4.5) a stable id from their index', () => {
    const nb = { ...tasks('x = 1', '%%task a\ny = 2'), nbformat_minor: 4 };
    const flow = spec(compileNotebook(nb));
    expect(flow.tasks[0]).toMatchObject({
      cellId: 'cell-1',
      setup: [{ cellId: 'cell-0', cellIndex: 0, code: 'x = 1' }]
    });
    expect(spec(compileNotebook(nb)).hash).toBe(flow.hash);
  });

  it('has no parameters and a null parameters cell when the notebook has none', () => {
    const flow = spec(compileNotebook(tasks('%%task only')));
    expect(flow.parameters).toEqual([]);
    expect(flow.parametersCell).toBeNull();
    expect(flow.teardown).toEqual([]);
  });

  it('passes on warnings without failing', () => {
    const result = compileNotebook(
      notebook([
        code('%%task b\n', { cellflow: { task: { name: 'a' } } }),
        code('x = 1\nx = 2', { tags: ['parameters'] })
      ])
    );
    expect(result.ok).toBe(true);
    expect(result.warnings).toEqual([
      {
        code: 'task-name-mismatch',
        message:
          'Cell 1 (task "b"): The %%task line names the task "b" but the cell metadata says "a"; the line wins',
        cellIndex: 0,
        cellId: 'cell-0',
        taskName: 'b'
      },
      {
        code: 'duplicate-parameter',
        message:
          'Cell 2 (parameters), line 2: "x" is assigned again (first on line 1); the last value is the default',
        cellIndex: 1,
        cellId: 'cell-1'
      }
    ]);
  });
});

describe('compileNotebook: problems, each naming its cell', () => {
  it('answers garbage with a problem, never an exception', () => {
    const cases: [unknown, string][] = [
      [null, 'Not an nbformat 4 notebook: expected a JSON object, got null'],
      [
        '{"nbformat": 4}',
        'Not an nbformat 4 notebook: expected a JSON object, got the string "{\\"nbformat\\": 4}"'
      ],
      [42, 'Not an nbformat 4 notebook: expected a JSON object, got number 42'],
      [
        undefined,
        'Not an nbformat 4 notebook: expected a JSON object, got undefined undefined'
      ],
      [[], 'Not an nbformat 4 notebook: expected a JSON object, got a list'],
      [{}, 'Not an nbformat 4 notebook: it has no "nbformat" field'],
      [
        { nbformat: 3, worksheets: [] },
        'Not an nbformat 4 notebook: "nbformat" is 3; save it with Jupyter (nbformat 4) first'
      ],
      [
        { nbformat: 4, cells: 'x' },
        'Not an nbformat 4 notebook: "cells" must be a list, got the string "x"'
      ]
    ];
    for (const [input, message] of cases) {
      expect(problems(compileNotebook(input))).toEqual([
        { code: 'not-a-notebook', message }
      ]);
    }
  });

  it('reports cells that are not cells', () => {
    const nb = notebook([
      code('%%task a'),
      5 as unknown as Cell,
      { cell_type: 'code', source: 7, id: 'x7' }
    ]);
    expect(problems(compileNotebook(nb))).toEqual([
      {
        code: 'invalid-cell',
        message: 'Cell 2 is not a cell object (got number 5)',
        cellIndex: 1,
        cellId: 'cell-1'
      },
      {
        code: 'invalid-cell',
        message:
          'Cell 3: "source" must be a string or a list of strings, got number 7',
        cellIndex: 2,
        cellId: 'x7'
      }
    ]);
  });

  it('compiles a notebook without %%task cells as one task of all its code cells, with a note', () => {
    const nb = notebook([
      markdown('# hi'),
      code('msg = None', { tags: ['parameters'] }, 'p'),
      code('import os', {}, 'a'),
      code('   ', {}, 'blank'),
      code('print(msg)', {}, 'b')
    ]);
    const result = compileNotebook(nb);
    expect(result.ok).toBe(true);
    const compiled = spec(result);
    expect(compiled.parametersCell?.cellId).toBe('p');
    expect(compiled.parameters.map(p => p.name)).toEqual(['msg']);
    expect(compiled.teardown).toEqual([]);
    expect(compiled.tasks).toEqual([
      {
        name: 'notebook',
        cellId: 'a',
        cellIndex: 2,
        code: 'import os',
        setup: [],
        upstream: [],
        retries: 0,
        retryDelay: 0,
        backoff: 1,
        timeout: null,
        cells: [
          { cellId: 'a', cellIndex: 2, code: 'import os' },
          { cellId: 'b', cellIndex: 4, code: 'print(msg)' }
        ]
      }
    ]);
    expect(result.warnings).toEqual([
      {
        code: 'whole-notebook',
        message: 'no %%task cells: the notebook runs as one task'
      }
    ]);
    // Nothing to run at all is still a problem; a skipped task does not count.
    for (const cells of [
      [markdown('# hi')],
      [code('%%task a', { cellflow: { skip: true } })]
    ]) {
      expect(problems(compileNotebook(notebook(cells)))[0].code).toBe(
        'no-tasks'
      );
    }
  });

  it('reports duplicate task names on every cell that has the name, naming the others', () => {
    const nb = notebook([
      code('%%task extract', {}, 'one'),
      code('%%task other'),
      code('%%task extract', {}, 'two')
    ]);
    expect(problems(compileNotebook(nb))).toEqual([
      {
        code: 'duplicate-task-name',
        message:
          'Cell 1 (task "extract"): the task name "extract" is also used by cell 3; task names must be unique',
        cellIndex: 0,
        cellId: 'one',
        taskName: 'extract'
      },
      {
        code: 'duplicate-task-name',
        message:
          'Cell 3 (task "extract"): the task name "extract" is also used by cell 1; task names must be unique',
        cellIndex: 2,
        cellId: 'two',
        taskName: 'extract'
      }
    ]);
    const three = problems(
      compileNotebook(tasks('%%task x', '%%task x', '%%task x'))
    );
    expect(three[0].message).toBe(
      'Cell 1 (task "x"): the task name "x" is also used by cells 2 and 3; task names must be unique'
    );
  });

  it('reports unknown dependencies, and dependencies on skipped tasks', () => {
    const nb = notebook([
      code('%%task extract'),
      code('%%task peek', { cellflow: { skip: true } }),
      code('%%task load --after transfrom,peek', {}, 'load-cell')
    ]);
    expect(problems(compileNotebook(nb))).toEqual([
      {
        code: 'unknown-dependency',
        message:
          'Cell 3 (task "load"): it runs after "transfrom", which is not a task in this notebook',
        cellIndex: 2,
        cellId: 'load-cell',
        taskName: 'load'
      },
      {
        code: 'unknown-dependency',
        message:
          'Cell 3 (task "load"): it runs after "peek", which is skipped (cell 2 has metadata.cellflow.skip set), so it never runs',
        cellIndex: 2,
        cellId: 'load-cell',
        taskName: 'load'
      }
    ]);
  });

  it('reports cycles by name, from the earliest task in the notebook', () => {
    const nb = tasks(
      '%%task start',
      '%%task a --after c',
      '%%task b --after a',
      '%%task c --after b',
      '%%task end'
    );
    expect(problems(compileNotebook(nb))).toEqual([
      {
        code: 'cyclic-dependency',
        message:
          'Cell 2 (task "a"): cyclic dependency a → b → c → a: each of these tasks waits for the one before it, so none can start',
        cellIndex: 1,
        cellId: 'cell-1',
        taskName: 'a'
      }
    ]);
    const two = problems(
      compileNotebook(
        tasks('%%task x --after y', '%%task y', '%%task self --after self')
      )
    );
    expect(two.map(p => [p.cellIndex, p.message.split(':')[1].trim()])).toEqual(
      [
        [0, 'cyclic dependency x → y → x'],
        [2, 'cyclic dependency self → self']
      ]
    );
  });

  it('reports task names that are not identifiers, in the line and in metadata', () => {
    const nb = notebook([
      code('%%task my-task\n'),
      code('x', { cellflow: { task: { name: '2nd' } } }),
      code('%%task\n'),
      code('y', { cellflow: { task: { retries: 1 } } })
    ]);
    expect(
      problems(compileNotebook(nb)).map(p => [p.code, p.cellIndex, p.message])
    ).toEqual([
      [
        'invalid-task-name',
        0,
        'Cell 1: Task name "my-task" is not a Python identifier (letters, digits and _, not starting with a digit)'
      ],
      [
        'invalid-task-name',
        1,
        'Cell 2: Task name in metadata.cellflow.task.name "2nd" is not a Python identifier (letters, digits and _, not starting with a digit)'
      ],
      [
        'missing-task-name',
        2,
        'Cell 3: %%task needs a task name, e.g. "%%task extract"'
      ],
      ['missing-task-name', 3, 'Cell 4: metadata.cellflow.task has no name']
    ]);
  });

  it('reports bad numbers and options naming the task', () => {
    const nb = notebook([
      code('%%task a --retries -1 --backoff 0.5 --color red'),
      code('x', {
        cellflow: { task: { name: 'b', timeout: 0, retryDelay: -3 } }
      })
    ]);
    expect(
      problems(compileNotebook(nb)).map(p => [
        p.code,
        p.cellIndex,
        p.taskName,
        p.message
      ])
    ).toEqual([
      [
        'invalid-retries',
        0,
        'a',
        'Cell 1 (task "a"): --retries must be a whole number ≥ 0, got "-1"'
      ],
      [
        'invalid-backoff',
        0,
        'a',
        'Cell 1 (task "a"): --backoff must be a number ≥ 1, got "0.5"'
      ],
      [
        'unknown-option',
        0,
        'a',
        expect.stringMatching(/^Cell 1 \(task "a"\): Unknown option "--color"/)
      ],
      [
        'invalid-retry-delay',
        1,
        'b',
        'Cell 2 (task "b"): metadata.cellflow.task.retryDelay must be a number of seconds ≥ 0, got -3'
      ],
      [
        'invalid-timeout',
        1,
        'b',
        'Cell 2 (task "b"): metadata.cellflow.task.timeout must be a number of seconds > 0, got 0'
      ]
    ]);
  });

  it('runs parameters cell lines that are not literals as code (papermill runs them), with a warning each and typed fields for the literals', () => {
    const source =
      'import os\nurl = "x"\nlimit = int("3")\nout = os.path.join("a", "b")\nn = 2 * 3';
    const nb = notebook([
      code(source, { tags: ['parameters'] }, 'p'),
      code('%%task a')
    ]);
    const result = compileNotebook(nb);
    if (!result.ok) {
      throw new Error(JSON.stringify(result.problems));
    }
    expect(
      result.spec.parameters.map(p => [p.name, p.type, p.default])
    ).toEqual([['url', 'string', 'x']]);
    // The whole cell runs, as written, before the injected values.
    expect(result.spec.parametersCell?.code).toBe(source);
    expect(
      result.warnings
        .filter(w => w.code === 'parameters-code')
        .map(w => [w.message, w.cellId])
    ).toEqual([
      [
        'Cell 1 (parameters), line 1: "import os" runs as code and gives no parameter field (only `name = literal` lines are allowed in a parameters cell)',
        'p'
      ],
      [
        'Cell 1 (parameters), line 3: "limit = int("3")" runs as code and gives no parameter field (int(...) is a call, not a literal)',
        'p'
      ],
      [
        'Cell 1 (parameters), line 4: "out = os.path.join("a", "b")" runs as code and gives no parameter field (os is a name, not a literal)',
        'p'
      ],
      [
        'Cell 1 (parameters), line 5: "n = 2 * 3" runs as code and gives no parameter field (unexpected "*" after the value: the value must be a single literal)',
        'p'
      ]
    ]);
  });

  it('reports defaults that do not match their declared types, in the cell or in metadata', () => {
    const nb = notebook(
      [code("limit = 'ten'", { tags: ['parameters'] }, 'p'), code('%%task a')],
      {
        cellflow: {
          parameters: {
            limit: { type: 'integer' },
            flag: { type: 'boolean', default: 'yes' }
          }
        }
      }
    );
    expect(problems(compileNotebook(nb))).toEqual([
      {
        code: 'default-type-mismatch',
        message:
          'Notebook metadata: parameter "flag" is declared boolean but its default "yes" is not true or false'
      },
      {
        code: 'default-type-mismatch',
        message:
          'Cell 1 (parameters), line 1: parameter "limit" is declared integer but its default "ten" is not a whole number',
        cellIndex: 0,
        cellId: 'p'
      }
    ]);
  });

  it('reports parameter names that are not identifiers and malformed parameter metadata', () => {
    const nb = notebook([code('%%task a')], {
      cellflow: {
        parameters: { 'out-dir': { type: 'string' }, n: { type: 'float' } }
      }
    });
    expect(problems(compileNotebook(nb)).map(p => p.message)).toEqual([
      'Notebook metadata: notebook metadata.cellflow.parameters.n.type must be one of string, integer, number, boolean, json, got "float"',
      'Notebook metadata: Parameter name "out-dir" is not a Python identifier (letters, digits and _, not starting with a digit)'
    ]);
  });

  it('reports a second parameters cell, and a parameters cell that is also a task', () => {
    const nb = notebook([
      code('a = 1', { tags: ['parameters'] }),
      code('b = 2', { tags: ['parameters'] }),
      code('%%task t\nc = 3', { tags: ['parameters'] }),
      code('%%task u')
    ]);
    expect(problems(compileNotebook(nb))).toEqual([
      {
        code: 'duplicate-parameters-cell',
        message:
          'Cell 2 is tagged "parameters", but cell 1 already is: a notebook has one parameters cell',
        cellIndex: 1,
        cellId: 'cell-1'
      },
      {
        code: 'parameters-cell-is-task',
        message:
          'Cell 3 (task "t") is tagged "parameters" and is also a task: a cell is one or the other',
        cellIndex: 2,
        cellId: 'cell-2',
        taskName: 't'
      }
    ]);
  });

  it('reports a flow name in metadata that is not a string', () => {
    expect(
      problems(
        compileNotebook(notebook([code('%%task a')], { cellflow: { name: 7 } }))
      )
    ).toEqual([
      {
        code: 'invalid-flow-name',
        message:
          'Notebook metadata: metadata.cellflow.name must be a non-empty string, got 7'
      }
    ]);
  });

  it('refuses a notebook in another language, naming it; Python, or no language said, compiles', () => {
    const r = notebook([code('%%task a\nprint(1)')], {
      kernelspec: { name: 'ir', display_name: 'R', language: 'R' }
    });
    expect(problems(compileNotebook(r))).toEqual([
      {
        code: 'unsupported-language',
        message:
          'The notebook is written in r: Cellflow runs Python notebooks (the %%task magic and the injection of parameters are Python)'
      }
    ]);
    const julia = notebook([code('%%task a\nprintln(1)')], {
      kernelspec: { name: 'julia-1.10', display_name: 'Julia' },
      language_info: { name: 'julia' }
    });
    expect(problems(compileNotebook(julia)).map(p => p.code)).toEqual([
      'unsupported-language'
    ]);
    for (const metadata of [
      { kernelspec: { name: 'python3', language: 'python' } },
      { language_info: { name: 'Python' } },
      { kernelspec: { name: 'python3' } },
      {}
    ]) {
      expect(compileNotebook(notebook([code('%%task a')], metadata)).ok).toBe(
        true
      );
    }
  });

  it('returns every problem at once', () => {
    const nb = notebook([
      code('x: int = "ten"', { tags: ['parameters'] }),
      code('%%task a --retries -2'),
      code('%%task a --after ghost'),
      code('%%task b --after c'),
      code('%%task c --after b')
    ]);
    expect(
      problems(compileNotebook(nb)).map(p => [p.code, p.cellIndex])
    ).toEqual([
      ['default-type-mismatch', 0],
      ['invalid-retries', 1],
      ['duplicate-task-name', 1],
      ['duplicate-task-name', 2],
      ['cyclic-dependency', 3]
    ]);
  });
});
