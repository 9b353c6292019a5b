/**
 * Property tests (fast-check) of what reads user input in src/flow: the compiler, the `%%task` parser,
 * the Python literal parser of the parameters cell and schedule validation. Random input never throws,
 * and every problem names what is at fault: its cell for the compiler, its field for schedules, its line
 * for parameters. Bounded runs: each property tries a few hundred inputs, from a fixed seed so a failure
 * reproduces (fast-check prints the seed and the shrunk input).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { compileNotebook } from '../compiler.js';
import { parseTaskMagic } from '../magic.js';
import { parseParametersSource } from '../python-literal.js';
import { validateSchedule } from '../schedule-validate.js';

const RUNS = { numRuns: 300, seed: 20261202 };

/** Text that looks like what users type in cells: magic lines, options, numbers, quotes, Unicode. */
const cellText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc
    .tuple(
      fc.constantFrom('%%task', '%%task ', '%%TASK', '%% task', '%%taskx'),
      fc.array(
        fc.oneof(
          fc.constantFrom(
            '--retries',
            '--retry-delay',
            '--backoff',
            '--timeout',
            '--after',
            '-r',
            '--',
            '='
          ),
          fc.constantFrom(
            '1e308',
            '-1',
            'NaN',
            '999999999999',
            '0x10',
            '2**53',
            '1.5',
            ''
          ),
          fc.string({ maxLength: 12 })
        ),
        { maxLength: 8 }
      ),
      fc.string({ maxLength: 60 })
    )
    .map(([magic, words, body]) => `${magic} ${words.join(' ')}\n${body}`)
);

const cell = fc.record(
  {
    cell_type: fc.constantFrom('code', 'markdown', 'raw', 'other', ''),
    id: fc.oneof(fc.string({ maxLength: 12 }), fc.constant(undefined)),
    source: fc.oneof(cellText, fc.array(cellText, { maxLength: 3 })),
    metadata: fc.oneof(
      fc.constant({}),
      fc.record({
        tags: fc.array(fc.constantFrom('parameters', 'skip', 'x'), {
          maxLength: 2
        })
      }),
      fc.record({ cellflow: fc.jsonValue({ maxDepth: 3 }) }),
      fc.jsonValue({ maxDepth: 2 })
    )
  },
  { requiredKeys: ['cell_type', 'source'] }
);

const notebook = fc.oneof(
  fc.record({
    nbformat: fc.constantFrom(4, 3, 5),
    nbformat_minor: fc.constantFrom(0, 4, 5),
    metadata: fc.oneof(fc.constant({}), fc.jsonValue({ maxDepth: 2 })),
    cells: fc.array(cell, { maxLength: 8 })
  }),
  fc.jsonValue({ maxDepth: 4 })
);

describe('random input, never an exception', () => {
  it('compileNotebook: every problem names its cell or the notebook itself', () => {
    fc.assert(
      fc.property(notebook, nb => {
        const result = compileNotebook(nb as never);
        const problems = result.ok ? result.warnings : result.problems;
        for (const problem of problems) {
          // 'internal-error' is what compileNotebook says when the compiler itself threw.
          expect(problem.code).not.toBe('internal-error');
          expect(problem.message.length).toBeGreaterThan(0);
        }
        const cells =
          nb !== null && typeof nb === 'object'
            ? (nb as { cells?: unknown }).cells
            : undefined;
        if (!result.ok && Array.isArray(cells) && cells.length > 0) {
          // A problem of a cell says which: by index within the notebook, or by its id.
          for (const problem of result.problems) {
            if (problem.cellIndex !== undefined) {
              expect(problem.cellIndex).toBeGreaterThanOrEqual(0);
              expect(problem.cellIndex).toBeLessThan(cells.length);
            }
          }
        }
      }),
      RUNS
    );
  });

  it('parseTaskMagic: a %%task line gives a name or a problem, and only bounded numbers', () => {
    fc.assert(
      fc.property(cellText, text => {
        const line = text.split('\n')[0];
        const magic = parseTaskMagic(line);
        if (!magic.isTask) {
          return;
        }
        if (magic.name === null) {
          expect(magic.problems.length).toBeGreaterThan(0);
        }
        for (const problem of magic.problems) {
          expect(problem.message.length).toBeGreaterThan(0);
        }
        for (const value of [
          magic.settings.retries,
          magic.settings.retryDelay,
          magic.settings.backoff,
          magic.settings.timeout
        ]) {
          if (typeof value === 'number') {
            expect(Number.isFinite(value)).toBe(true);
          }
        }
      }),
      RUNS
    );
  });

  it('parseParametersSource: each problem names its line and statement', () => {
    const source = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc
        .array(
          fc.tuple(
            fc.oneof(
              fc.constantFrom('x', 'url', '_a1', 'class', '1x', ''),
              fc.string({ maxLength: 6 })
            ),
            fc.oneof(
              fc.constantFrom(
                '1',
                '-2.5e3',
                '"s"',
                "'''t'''",
                'None',
                'True',
                '[1, (2, 3)]',
                '{"a": [1]}',
                '1e999',
                '[[[[[[[[[[',
                'f(x)',
                '"\\u00e9"'
              ),
              fc.string({ maxLength: 20 })
            ),
            fc.constantFrom('', '  # a description', '# c')
          ),
          { maxLength: 6 }
        )
        .map(rows => rows.map(([n, v, c]) => `${n} = ${v}${c}`).join('\n'))
    );
    fc.assert(
      fc.property(source, text => {
        const parsed = parseParametersSource(text);
        const lines = text.split('\n').length;
        for (const problem of parsed.problems) {
          expect(problem.line).toBeGreaterThanOrEqual(1);
          expect(problem.line).toBeLessThanOrEqual(lines);
          expect(problem.reason.length).toBeGreaterThan(0);
        }
        for (const assignment of parsed.assignments) {
          expect(assignment.line).toBeGreaterThanOrEqual(1);
        }
      }),
      RUNS
    );
  });

  it('parseParametersSource reads back the literals it is given', () => {
    const scalar = fc.oneof(
      fc.integer({ min: -1e9, max: 1e9 }),
      fc.boolean(),
      fc.constant(null),
      fc.string({ maxLength: 20 })
    );
    const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 4 }));
    const pythonLiteral = (v: unknown): string =>
      v === null
        ? 'None'
        : v === true
          ? 'True'
          : v === false
            ? 'False'
            : Array.isArray(v)
              ? `[${v.map(pythonLiteral).join(', ')}]`
              : JSON.stringify(v);
    fc.assert(
      fc.property(value, v => {
        const parsed = parseParametersSource(`p = ${pythonLiteral(v)}`);
        expect(parsed.problems).toEqual([]);
        expect(parsed.assignments[0].value).toEqual(v);
      }),
      RUNS
    );
  });

  it('validateSchedule: every problem names its field', () => {
    const schedule = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record(
        {
          kind: fc.constantFrom('interval', 'cron', 'rrule', '', 1),
          every: fc.oneof(
            fc.constantFrom(
              '10s',
              '999999999d',
              '1e30',
              '0',
              '-1s',
              '2**53',
              '1e308',
              ''
            ),
            fc.double(),
            fc.integer()
          ),
          cron: fc.oneof(
            fc.constantFrom(
              '*/1 * * * *',
              '61 * * * *',
              '* * *',
              '0 0 31 2 *',
              ''
            ),
            fc.string({ maxLength: 30 })
          ),
          timezone: fc.oneof(
            fc.constantFrom('Europe/Berlin', 'UTC', 'Mars/Base', ''),
            fc.string({ maxLength: 10 })
          ),
          anchor: fc.oneof(
            fc.constantFrom('2026-01-01T00:00:00Z', 'yesterday'),
            fc.string()
          )
        },
        { requiredKeys: [] }
      )
    );
    fc.assert(
      fc.property(schedule, input => {
        const result = validateSchedule(input) as {
          ok: boolean;
          problems?: { field: string; message: string }[];
        };
        for (const problem of result.problems ?? []) {
          expect(problem.field.length).toBeGreaterThan(0);
          expect(problem.message.length).toBeGreaterThan(0);
        }
      }),
      RUNS
    );
  });
});
