import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { base64Encode, utf8Encode } from '../hash.js';
import {
  acceptsUndeclaredParameters,
  coerceParameterValue,
  injectedParameterValues,
  parameterInjectionCode,
  resolveParameters,
  validateParameterValues
} from '../parameters.js';
import { parseParametersSource } from '../python-literal.js';
import type { ParameterSpec } from '../spec.js';

const values = (source: string) =>
  Object.fromEntries(
    parseParametersSource(source).assignments.map(a => [a.name, a.value])
  );
const reasons = (source: string) => parseParametersSource(source).problems;

describe('parseParametersSource: Python literals', () => {
  it('reads strings with quotes, escapes, raw and concatenation', () => {
    expect(
      values(
        [
          `a = 'single'`,
          `b = "double"`,
          `c = 'it\\'s \\n\\t\\x41\\u00e9\\U0001F600\\101\\q'`,
          `d = r'C:\\new\\dir'`,
          `e = 'ab' "cd"`,
          `f = """multi`,
          `line"""`,
          `g = u'unicode é'`,
          `h = ''`
        ].join('\n')
      )
    ).toEqual({
      a: 'single',
      b: 'double',
      c: "it's \n\tAé😀A\\q",
      d: 'C:\\new\\dir',
      e: 'abcd',
      f: 'multi\nline',
      g: 'unicode é',
      h: ''
    });
  });

  it('reads ints, floats, booleans and None', () => {
    expect(
      values(
        'i = 42\nn = -7\nbig = 1_000_000\nhex = 0xff\nf = 3.5\ne = 1e3\nneg = -2.5e-3\ndot = .5\nt = True\nno = False\nnil = None\npos = +3'
      )
    ).toEqual({
      i: 42,
      n: -7,
      big: 1000000,
      hex: 255,
      f: 3.5,
      e: 1000,
      neg: -0.0025,
      dot: 0.5,
      t: true,
      no: false,
      nil: null,
      pos: 3
    });
    const kinds = parseParametersSource(
      'i = 1\nf = 1.0\ne = 1e3\nb = True\nz = None'
    ).assignments.map(a => a.kind);
    expect(kinds).toEqual(['int', 'float', 'float', 'bool', 'none']);
  });

  it('reads nested lists, tuples and dicts, across lines', () => {
    const source = [
      'cols = [',
      "    'a',  # first",
      "    'b',",
      ']',
      "cfg = {'x': [1, 2.5, None], 'y': {'z': (True, False)}, 'e': {}}",
      't = (1,)',
      'u = ()',
      'p = (3)',
      'bare = 1, 2',
      'trailing = [1, 2,]'
    ].join('\n');
    expect(values(source)).toEqual({
      cols: ['a', 'b'],
      cfg: { x: [1, 2.5, null], y: { z: [true, false] }, e: {} },
      t: [1],
      u: [],
      p: 3,
      bare: [1, 2],
      trailing: [1, 2]
    });
  });

  it('takes the trailing comment as the description and allows blank and comment lines', () => {
    const parsed = parseParametersSource(
      '# Parameters\n\nurl = "http://x"  # where the users are\n  \nlimit = 10\n'
    );
    expect(parsed.problems).toEqual([]);
    expect(parsed.assignments).toEqual([
      {
        name: 'url',
        value: 'http://x',
        kind: 'str',
        annotation: undefined,
        description: 'where the users are',
        line: 3
      },
      { name: 'limit', value: 10, kind: 'int', annotation: undefined, line: 5 }
    ]);
  });

  it('reads annotations', () => {
    expect(parseParametersSource('x: float = 3').assignments[0]).toMatchObject({
      name: 'x',
      annotation: 'float',
      value: 3
    });
  });

  it('names the line and the reason for everything that is not name = literal', () => {
    const cases: [string, string][] = [
      ['x = foo()', 'foo(...) is a call, not a literal'],
      [
        'import os',
        'only `name = literal` lines are allowed in a parameters cell'
      ],
      ['x += 1', '"+=" is not a plain assignment; write name = literal'],
      ['x = y', 'y is a name, not a literal'],
      [
        'x = 1 + 2',
        'unexpected "+" after the value: the value must be a single literal'
      ],
      [
        'a = b = 1',
        'chained assignments (a = b = 1) are not allowed; give each parameter its own line'
      ],
      ['x = f"{y}"', 'an f-string is computed, not a literal'],
      ["x = b'raw'", 'bytes literals are not supported; use a str'],
      ["x = 'open", 'this string is not closed'],
      ['x = {1, 2}', 'sets are not supported; use a list'],
      ["x = {'a', 'b'}", 'sets are not supported; use a list'],
      [
        'x = {1: 2}',
        'dict keys must be strings (they become JSON object keys)'
      ],
      ['x = 3j', 'complex numbers are not supported'],
      ['x = 012', 'leading zeros are not allowed in 012'],
      [
        'x = 99999999999999999999',
        '99999999999999999999 is too large: integers must be within ±9007199254740991'
      ],
      ['x = [1, 2', 'missing "," or "]"'],
      ['x =', 'a value is missing after "="'],
      ['x = -"a"', '"-" can only sign a number'],
      [
        'def f(): pass',
        'only `name = literal` lines are allowed in a parameters cell'
      ],
      ['x == 1', '"==" is not a plain assignment; write name = literal'],
      [
        'x = 1; y = 2',
        'unexpected ";" after the value: the value must be a single literal'
      ]
    ];
    for (const [source, reason] of cases) {
      expect(reasons(source), source).toEqual([
        { line: 1, text: source, reason }
      ]);
    }
  });

  it('reports values nested too deeply instead of overflowing the stack', () => {
    expect(reasons('x = ' + '['.repeat(100000) + ']'.repeat(100000))).toEqual([
      {
        line: 1,
        text: expect.any(String),
        reason: 'the value is nested more than 100 levels deep'
      }
    ]);
    expect(values('x = ' + '['.repeat(100) + ']'.repeat(100)).x).toBeInstanceOf(
      Array
    );
  });

  it('reports every bad line and keeps reading after one', () => {
    const parsed = parseParametersSource(
      'a = 1\nb = foo()\nc = 2\nimport os\nd = [\n 1,\n]'
    );
    expect(parsed.assignments.map(a => a.name)).toEqual(['a', 'c', 'd']);
    expect(parsed.problems.map(p => p.line)).toEqual([2, 4]);
  });
});

describe('resolveParameters', () => {
  it('infers types from the literals', () => {
    const result = resolveParameters(
      "s = 'x'\ni = 1\nf = 1.5\nb = True\nn = None\nl = [1]\nd = {'a': 1}",
      undefined
    );
    expect(result.problems).toEqual([]);
    expect(
      result.parameters.map(p => [p.name, p.type, p.default, p.required])
    ).toEqual([
      ['s', 'string', 'x', false],
      ['i', 'integer', 1, false],
      ['f', 'number', 1.5, false],
      ['b', 'boolean', true, false],
      ['n', 'json', null, false],
      ['l', 'json', [1], false],
      ['d', 'json', { a: 1 }, false]
    ]);
  });

  it('lets notebook metadata refine type, required, description and default, and add parameters', () => {
    const result = resolveParameters('limit = 10  # rows\nratio = 1', {
      limit: { type: 'number', description: 'how many', required: true },
      ratio: { default: 2.5, type: 'number' },
      token: { type: 'string', required: true }
    });
    expect(result.problems).toEqual([]);
    expect(result.parameters).toEqual([
      {
        name: 'limit',
        type: 'number',
        default: 10,
        required: true,
        description: 'how many'
      },
      { name: 'ratio', type: 'number', default: 2.5, required: false },
      { name: 'token', type: 'string', default: null, required: true }
    ]);
  });

  it('uses an annotation as the declared type', () => {
    expect(
      resolveParameters('x: float = 3', undefined).parameters[0]
    ).toMatchObject({
      type: 'number',
      default: 3
    });
    expect(
      resolveParameters('x: int = 2.5', undefined).problems.map(p => p.message)
    ).toEqual([
      'line 1: parameter "x" is declared integer but its default 2.5 is not a whole number'
    ]);
  });

  it('reports defaults that do not match the declared type, naming the line or the metadata', () => {
    const result = resolveParameters("limit = 'ten'\nflag = 1", {
      limit: { type: 'integer' },
      flag: { type: 'boolean' },
      extra: { type: 'string', default: 5 }
    });
    expect(result.problems).toEqual([
      {
        code: 'default-type-mismatch',
        message:
          'line 1: parameter "limit" is declared integer but its default "ten" is not a whole number',
        inCell: true,
        line: 1,
        parameter: 'limit'
      },
      {
        code: 'default-type-mismatch',
        message:
          'line 2: parameter "flag" is declared boolean but its default 1 is not true or false',
        inCell: true,
        line: 2,
        parameter: 'flag'
      },
      {
        code: 'default-type-mismatch',
        message:
          'parameter "extra" is declared string but its default 5 is not a string',
        inCell: false,
        line: undefined,
        parameter: 'extra'
      }
    ]);
  });

  it('reports malformed metadata and parameter names that are not identifiers', () => {
    const result = resolveParameters(null, {
      'bad-name': { type: 'string' },
      class: {},
      _cf_x: {},
      t: { type: 'text', required: 'yes', description: 3 },
      u: 'string'
    });
    expect(result.problems.map(p => p.message)).toEqual([
      'notebook metadata.cellflow.parameters.t.type must be one of string, integer, number, boolean, json, got "text"',
      'notebook metadata.cellflow.parameters.t.required must be true or false, got "yes"',
      'notebook metadata.cellflow.parameters.t.description must be a string, got 3',
      'notebook metadata.cellflow.parameters.u must be an object like {"type": "string"}, got "string"',
      'Parameter name "bad-name" is not a Python identifier (letters, digits and _, not starting with a digit)',
      'Parameter name "class" is a Python keyword, which cannot be used as a name',
      'Parameter name "_cf_x" starts with _cf_, which Cellflow keeps for itself'
    ]);
    expect(resolveParameters(null, [1]).problems[0].message).toBe(
      'notebook metadata.cellflow.parameters must be an object of parameters, got [1]'
    );
  });

  it('warns when a parameter is assigned twice, the last value winning as in Python', () => {
    const result = resolveParameters('x = 1\nx = 2', undefined);
    expect(result.parameters).toEqual([
      { name: 'x', type: 'integer', default: 2, required: false }
    ]);
    expect(result.warnings.map(w => w.message)).toEqual([
      'line 2: "x" is assigned again (first on line 1); the last value is the default'
    ]);
  });
});

const spec = (
  name: string,
  type: ParameterSpec['type'],
  extra: Partial<ParameterSpec> = {}
): ParameterSpec => ({
  name,
  type,
  default: null,
  required: false,
  ...extra
});

describe('coerceParameterValue', () => {
  it('converts text from the command line to the parameter type', () => {
    expect(coerceParameterValue(spec('n', 'integer'), '3')).toEqual({
      ok: true,
      value: 3
    });
    expect(coerceParameterValue(spec('n', 'integer'), ' -12 ')).toEqual({
      ok: true,
      value: -12
    });
    expect(coerceParameterValue(spec('x', 'number'), '2.5e1')).toEqual({
      ok: true,
      value: 25
    });
    expect(coerceParameterValue(spec('b', 'boolean'), 'True')).toEqual({
      ok: true,
      value: true
    });
    expect(coerceParameterValue(spec('b', 'boolean'), 'no')).toEqual({
      ok: true,
      value: false
    });
    expect(coerceParameterValue(spec('s', 'string'), '3')).toEqual({
      ok: true,
      value: '3'
    });
    expect(
      coerceParameterValue(spec('j', 'json'), '{"a":[1]}', { fromText: true })
    ).toEqual({
      ok: true,
      value: { a: [1] }
    });
    expect(coerceParameterValue(spec('j', 'json'), '{"a":[1]}')).toEqual({
      ok: true,
      value: '{"a":[1]}'
    });
  });

  it('accepts values already of the right type', () => {
    expect(coerceParameterValue(spec('n', 'integer'), 4)).toEqual({
      ok: true,
      value: 4
    });
    expect(coerceParameterValue(spec('x', 'number'), 4)).toEqual({
      ok: true,
      value: 4
    });
    expect(coerceParameterValue(spec('b', 'boolean'), false)).toEqual({
      ok: true,
      value: false
    });
    expect(coerceParameterValue(spec('j', 'json'), [1, { a: null }])).toEqual({
      ok: true,
      value: [1, { a: null }]
    });
  });

  it('names the parameter and the value it cannot convert', () => {
    const fail = (s: ParameterSpec, v: unknown, o = {}) => {
      const r = coerceParameterValue(s, v, o);
      return r.ok ? 'ok' : r.message;
    };
    expect(fail(spec('limit', 'integer'), '3.5')).toBe(
      'parameter "limit" must be a whole number, got "3.5"'
    );
    expect(fail(spec('limit', 'integer'), 1.5)).toBe(
      'parameter "limit" must be a whole number, got 1.5'
    );
    expect(fail(spec('ratio', 'number'), 'abc')).toBe(
      'parameter "ratio" must be a number, got "abc"'
    );
    expect(fail(spec('ratio', 'number'), Infinity)).toBe(
      'parameter "ratio" must be a number, got Infinity'
    );
    expect(fail(spec('flag', 'boolean'), 'maybe')).toBe(
      'parameter "flag" must be true or false, got "maybe"'
    );
    expect(fail(spec('name', 'string'), 3)).toBe(
      'parameter "name" must be a string, got 3'
    );
    expect(fail(spec('cfg', 'json'), '{bad', { fromText: true })).toMatch(
      /^parameter "cfg" must be JSON \(.+\), got "\{bad"$/
    );
    expect(fail(spec('cfg', 'json'), NaN)).toBe(
      'parameter "cfg" must be JSON data, got NaN'
    );
    expect(fail(spec('token', 'string', { required: true }), null)).toBe(
      'parameter "token" is required: give it a string value'
    );
  });
});

describe('validateParameterValues', () => {
  const specs = [
    spec('url', 'string', { default: 'http://localhost' }),
    spec('limit', 'integer', { default: 10 }),
    spec('token', 'string', { required: true })
  ];

  it('fills defaults and converts given values', () => {
    expect(
      validateParameterValues(
        specs,
        { limit: '5', token: 'k' },
        { fromText: true }
      )
    ).toEqual({
      ok: true,
      values: { url: 'http://localhost', limit: 5, token: 'k' },
      warnings: []
    });
  });

  it('keeps values for undeclared names when asked (no parameters cell), after the declared ones, with a warning each', () => {
    expect(
      validateParameterValues(
        specs,
        { extra: [1, 'two'], token: 'k', msg: 'Hello' },
        { acceptUndeclared: true }
      )
    ).toEqual({
      ok: true,
      values: {
        url: 'http://localhost',
        limit: 10,
        token: 'k',
        extra: [1, 'two'],
        msg: 'Hello'
      },
      warnings: [
        'parameter "extra" is not declared by the notebook (it has no parameters cell): injected at the top, as papermill does',
        'parameter "msg" is not declared by the notebook (it has no parameters cell): injected at the top, as papermill does'
      ]
    });
    // Still refused: names Python cannot take, or that Cellflow keeps for itself.
    expect(
      validateParameterValues(
        [],
        { 'a b': 1, _cf_x: 2 },
        { acceptUndeclared: true }
      )
    ).toEqual({
      ok: false,
      errors: [
        expect.stringContaining('"a b"'),
        'Parameter name "_cf_x" starts with _cf_, which Cellflow keeps for itself'
      ]
    });
  });

  it('returns every error at once: unknown names, bad values, missing required ones', () => {
    expect(
      validateParameterValues(specs, { limit: 'x', colour: 'red' })
    ).toEqual({
      ok: false,
      errors: [
        'unknown parameter "colour": the flow\'s parameters are url, limit, token',
        'parameter "limit" must be a whole number, got "x"',
        'parameter "token" is required: give it a string value'
      ]
    });
    expect(validateParameterValues([], { a: 1 })).toEqual({
      ok: false,
      errors: ['unknown parameter "a": the flow has no parameters']
    });
    expect(validateParameterValues(specs, 'x')).toEqual({
      ok: false,
      errors: ['parameter values must be an object of name → value, got "x"']
    });
  });
});

describe('injectedParameterValues', () => {
  it('injects what the parameters cell does not already set: changed values, metadata-only and undeclared names', () => {
    const cell =
      'import os\nurl = "http://x"  # the API\npair = (1, 2)\nlimit = 10\nout = os.path.join("a", "b")';
    expect(
      injectedParameterValues(cell, {
        url: 'http://x',
        pair: [1, 2],
        limit: 5,
        fromMetadata: true,
        out: 'elsewhere'
      })
    ).toEqual({ limit: 5, fromMetadata: true, out: 'elsewhere' });
    // No parameters cell: everything is injected (at the top).
    expect(injectedParameterValues(null, { a: 1 })).toEqual({ a: 1 });
  });

  it('accepts undeclared values exactly when a spec has no parameters cell', () => {
    expect(acceptsUndeclaredParameters({ parametersCell: null })).toBe(true);
    expect(acceptsUndeclaredParameters({})).toBe(true);
    expect(
      acceptsUndeclaredParameters({
        parametersCell: { cellId: 'p', cellIndex: 0, code: 'a = 1' }
      })
    ).toBe(false);
  });
});

describe('parameterInjectionCode', () => {
  const PREFIX =
    "import base64 as _cf_b64, json as _cf_json; globals().update(_cf_json.loads(_cf_b64.b64decode('";
  const SUFFIX = "').decode('utf-8'))); del _cf_b64, _cf_json";

  it('carries the values only as base64 of their JSON, between fixed text', () => {
    const hostile = {
      evil: '"; import os; os._exit(1) #',
      quote: "')); os.system('x",
      url: 'http://ü.example/é'
    };
    const code = parameterInjectionCode(hostile);
    expect(code.startsWith(PREFIX)).toBe(true);
    expect(code.endsWith(SUFFIX)).toBe(true);
    const data = code.slice(PREFIX.length, code.length - SUFFIX.length);
    expect(data).toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
    expect(data).toBe(base64Encode(utf8Encode(JSON.stringify(hostile))));
    expect(JSON.parse(Buffer.from(data, 'base64').toString('utf8'))).toEqual(
      hostile
    );
    expect(code).not.toContain('import os');
  });

  it('handles no values and refuses names that are not identifiers', () => {
    expect(parameterInjectionCode({})).toBe(
      PREFIX + base64Encode(utf8Encode('{}')) + SUFFIX
    );
    expect(() => parameterInjectionCode({ 'a b': 1 })).toThrow(
      'Cannot inject parameter "a b": it is not a Python identifier'
    );
  });

  it('sets the values as globals in real Python, hostile strings staying strings', () => {
    const python = fileURLToPath(
      new URL('../../../.venv/bin/python', import.meta.url)
    );
    const injected = {
      evil: '"; import os; os._exit(1) #',
      quote: "')); raise SystemExit(3) #",
      n: 3,
      x: 2.5,
      ok: true,
      nothing: null,
      cfg: { cols: ['a', 'é'], deep: { z: [1, null] } },
      emoji: '🎉'
    };
    const names = Object.keys(injected);
    const script =
      parameterInjectionCode(injected) +
      `\nimport json\nprint(json.dumps({k: globals()[k] for k in ${JSON.stringify(names)}}))` +
      "\nprint('_cf_b64' in globals(), '_cf_json' in globals())";
    const out = execFileSync(python, ['-c', script], { encoding: 'utf8' })
      .trim()
      .split('\n');
    expect(JSON.parse(out[0])).toEqual(injected);
    expect(out[1]).toBe('False False');
  });
});
