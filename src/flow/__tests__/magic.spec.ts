import { describe, expect, it } from 'vitest';

import {
  effectiveTaskSettings,
  formatTaskMagic,
  metadataFromMagic,
  parseTaskMagic,
  readCellflowMetadata,
  stripMagicLine
} from '../magic.js';

const messages = (line: string) =>
  parseTaskMagic(line).problems.map(p => p.message);

describe('parseTaskMagic', () => {
  it('reads a name and every option, with spaces or =', () => {
    const magic = parseTaskMagic(
      '%%task load --retries 3 --retry-delay=2.5 --backoff 2 --timeout=600 --after extract,transform'
    );
    expect(magic).toEqual({
      isTask: true,
      name: 'load',
      settings: {
        retries: 3,
        retryDelay: 2.5,
        backoff: 2,
        timeout: 600,
        after: ['extract', 'transform']
      },
      order: ['retries', 'retryDelay', 'backoff', 'timeout', 'after'],
      problems: []
    });
  });

  it('reads a bare name, extra spaces, a CRLF line and `--after a, b`', () => {
    expect(parseTaskMagic('%%task   extract  \r')).toMatchObject({
      isTask: true,
      name: 'extract',
      settings: {},
      problems: []
    });
    expect(parseTaskMagic('%%task t --after a, b').settings.after).toEqual([
      'a',
      'b'
    ]);
    expect(
      parseTaskMagic('%%task t --retry-delay 1e3').settings.retryDelay
    ).toBe(1000);
  });

  it('reads `--after=` as "depends on nothing"', () => {
    expect(parseTaskMagic('%%task t --after=')).toMatchObject({
      settings: { after: [] },
      problems: []
    });
  });

  it('is not a task line unless it starts with %%task and a space', () => {
    for (const line of [
      'x = 1',
      '%%taskx a',
      ' %%task a',
      '%task a',
      '# %%task a',
      ''
    ]) {
      expect(parseTaskMagic(line)).toEqual({
        isTask: false,
        name: null,
        settings: {},
        order: [],
        problems: []
      });
    }
  });

  it('reports numbers out of range with the option and the value', () => {
    expect(messages('%%task t --retries -1')).toEqual([
      '--retries must be a whole number ≥ 0, got "-1"'
    ]);
    expect(messages('%%task t --retries 1.5')).toEqual([
      '--retries must be a whole number ≥ 0, got "1.5"'
    ]);
    expect(messages('%%task t --retries three')).toEqual([
      '--retries must be a whole number ≥ 0, got "three"'
    ]);
    expect(messages('%%task t --retry-delay -5')).toEqual([
      '--retry-delay must be a number of seconds ≥ 0, got "-5"'
    ]);
    expect(messages('%%task t --timeout 0')).toEqual([
      '--timeout must be a number of seconds > 0, got "0"'
    ]);
    expect(messages('%%task t --timeout 0x10')).toEqual([
      '--timeout must be a number of seconds > 0, got "0x10"'
    ]);
    expect(messages('%%task t --backoff 0.5')).toEqual([
      '--backoff must be a number ≥ 1, got "0.5"'
    ]);
    expect(parseTaskMagic('%%task t --retries -1').problems[0].code).toBe(
      'invalid-retries'
    );
    expect(parseTaskMagic('%%task t --retries -1').settings).toEqual({});
  });

  it('reports unknown options, missing values, repeats and stray words', () => {
    expect(messages('%%task t --retry 3')).toEqual([
      'Unknown option "--retry" in the %%task line; the options are --retries, --retry-delay, --backoff, --timeout, --after, --map, --cache-for, --cache-key'
    ]);
    expect(messages('%%task t --retries')).toEqual([
      '--retries needs a value, e.g. --retries 3'
    ]);
    expect(messages('%%task t --timeout --retries 2')).toEqual([
      '--timeout needs a value, e.g. --timeout 600'
    ]);
    expect(messages('%%task t --retries 1 --retries=2')).toEqual([
      '--retries is given more than once in the %%task line'
    ]);
    expect(messages('%%task t u')).toEqual([
      'Unexpected "u" in the %%task line: it takes one task name, then options (--retries, --retry-delay, --backoff, --timeout, --after, --map, --cache-for, --cache-key)'
    ]);
  });

  it('reports a missing or invalid task name', () => {
    expect(messages('%%task')).toEqual([
      '%%task needs a task name, e.g. "%%task extract"'
    ]);
    expect(messages('%%task --retries 2')).toEqual([
      '%%task needs a task name, e.g. "%%task extract"'
    ]);
    expect(messages('%%task 1st')).toEqual([
      'Task name "1st" is not a Python identifier (letters, digits and _, not starting with a digit)'
    ]);
    expect(messages('%%task my-task')[0]).toContain(
      '"my-task" is not a Python identifier'
    );
    expect(messages('%%task class')).toEqual([
      'Task name "class" is a Python keyword, which cannot be used as a name'
    ]);
    expect(parseTaskMagic('%%task class').name).toBeNull();
    // Unicode identifiers are Python identifiers; soft keywords are valid names.
    expect(parseTaskMagic('%%task données').name).toBe('données');
    expect(parseTaskMagic('%%task match').name).toBe('match');
  });

  it('reports bad --after names and keeps the good ones', () => {
    const magic = parseTaskMagic('%%task t --after a,,b-c,a');
    expect(magic.settings.after).toEqual(['a']);
    expect(magic.problems.map(p => p.message)).toEqual([
      '--after "a,,b-c,a" has an empty name between commas',
      '--after name "b-c" is not a Python identifier (letters, digits and _, not starting with a digit)'
    ]);
  });

  it('never throws, whatever the line', () => {
    for (const line of [
      '%%task ====',
      '%%task --=',
      '%%task -- --',
      '%%task \u0000 --after=,',
      '%%task t --after=a,'
    ]) {
      expect(() => parseTaskMagic(line)).not.toThrow();
      expect(parseTaskMagic(line).problems.length).toBeGreaterThan(0);
    }
  });
});

describe('formatTaskMagic', () => {
  it('writes only values that differ from the defaults', () => {
    expect(
      formatTaskMagic('extract', {
        retries: 0,
        retryDelay: 0,
        backoff: 1,
        timeout: null
      })
    ).toBe('%%task extract');
    expect(
      formatTaskMagic('load', {
        retries: 3,
        retryDelay: 10,
        backoff: 2,
        timeout: 60,
        after: ['a', 'b']
      })
    ).toBe(
      '%%task load --retries 3 --retry-delay 10 --backoff 2 --timeout 60 --after a,b'
    );
    expect(formatTaskMagic('t', { after: [] })).toBe('%%task t --after=');
  });

  it('keeps the option order of the previous line and appends new options', () => {
    const previous = '%%task load --after extract --timeout=30 --retries 1';
    expect(
      formatTaskMagic(
        'load',
        { retries: 2, timeout: 30, after: ['extract'], retryDelay: 5 },
        previous
      )
    ).toBe(
      '%%task load --after extract --timeout 30 --retries 2 --retry-delay 5'
    );
    // A setting back at its default disappears from the line.
    expect(
      formatTaskMagic(
        'load',
        { retries: 0, timeout: 30, after: ['extract'] },
        previous
      )
    ).toBe('%%task load --after extract --timeout 30');
  });

  it('round-trips through parseTaskMagic', () => {
    const settings = {
      retries: 4,
      retryDelay: 0.5,
      backoff: 1.5,
      // Written in exponent notation (1e-7), read back the same; within the bounds of limits.ts.
      timeout: 1e-7,
      after: ['x']
    };
    const line = formatTaskMagic('round', settings);
    expect(parseTaskMagic(line)).toMatchObject({
      name: 'round',
      settings,
      problems: []
    });
  });
});

describe('stripMagicLine', () => {
  it('drops only a %%task first line', () => {
    expect(stripMagicLine('%%task a --retries 2\nx = 1\ny = 2')).toBe(
      'x = 1\ny = 2'
    );
    expect(stripMagicLine(['%%task a\n', 'x = 1\n', 'y'])).toBe('x = 1\ny');
    expect(stripMagicLine('%%task a')).toBe('');
    expect(stripMagicLine('x = 1\n%%task a')).toBe('x = 1\n%%task a');
    expect(stripMagicLine('%%time\nx')).toBe('%%time\nx');
  });
});

describe('effectiveTaskSettings', () => {
  it('fills defaults for a cell with only a %%task line', () => {
    expect(effectiveTaskSettings({ source: '%%task extract\nx = 1' })).toEqual({
      isTask: true,
      skip: false,
      name: 'extract',
      settings: { retries: 0, retryDelay: 0, backoff: 1, timeout: null },
      after: null,
      map: null,
      fromMagic: true,
      fromMetadata: false,
      problems: [],
      warnings: []
    });
  });

  it('reads a task from metadata alone', () => {
    const cell = {
      source: ['x = 1'],
      metadata: {
        cellflow: {
          task: { name: 'load', retries: 2, timeout: 30, after: ['transform'] }
        }
      }
    };
    expect(effectiveTaskSettings(cell)).toMatchObject({
      isTask: true,
      name: 'load',
      settings: { retries: 2, retryDelay: 0, backoff: 1, timeout: 30 },
      after: ['transform'],
      fromMagic: false,
      fromMetadata: true,
      problems: []
    });
  });

  it('lets the %%task line win for the fields it names and keeps the rest from metadata', () => {
    const cell = {
      source: '%%task load --retries 5\nx',
      metadata: {
        cellflow: {
          task: { name: 'old', retries: 2, retryDelay: 7, after: [] }
        }
      }
    };
    const task = effectiveTaskSettings(cell);
    expect(task).toMatchObject({
      name: 'load',
      settings: { retries: 5, retryDelay: 7 },
      after: []
    });
    expect(task.warnings.map(w => w.message)).toEqual([
      'The %%task line names the task "load" but the cell metadata says "old"; the line wins'
    ]);
  });

  it('is not a task without a line or task metadata, and reads skip', () => {
    expect(
      effectiveTaskSettings({
        source: 'x = 1',
        metadata: { cellflow: { skip: true } }
      })
    ).toMatchObject({
      isTask: false,
      skip: true,
      name: null
    });
  });

  it('reports malformed metadata by field', () => {
    const bad = readCellflowMetadata({
      cellflow: {
        skip: 'yes',
        task: {
          name: 'for',
          retries: -1,
          retryDelay: '5',
          backoff: 0,
          timeout: 0,
          after: 'a'
        }
      }
    });
    expect(bad.problems.map(p => p.message)).toEqual([
      'metadata.cellflow.skip must be true or false, got "yes"',
      'Task name in metadata.cellflow.task.name "for" is a Python keyword, which cannot be used as a name',
      'metadata.cellflow.task.retries must be a whole number ≥ 0, got -1',
      'metadata.cellflow.task.retryDelay must be a number of seconds ≥ 0, got "5"',
      'metadata.cellflow.task.backoff must be a number ≥ 1, got 0',
      'metadata.cellflow.task.timeout must be a number of seconds > 0, got 0',
      'metadata.cellflow.task.after must be a list of task names, got "a"'
    ]);
    expect(readCellflowMetadata({ cellflow: 3 }).problems[0].message).toBe(
      'metadata.cellflow must be an object, got 3'
    );
    expect(
      readCellflowMetadata({ cellflow: { task: {} } }).problems[0].message
    ).toBe('metadata.cellflow.task has no name');
  });
});

describe('metadataFromMagic', () => {
  it('gives exactly what the line says, keeping other cellflow keys', () => {
    expect(
      metadataFromMagic('%%task load --timeout 9 --after a', {
        skip: false,
        task: { name: 'x', retries: 3 }
      })
    ).toEqual({
      skip: false,
      task: { name: 'load', timeout: 9, after: ['a'] }
    });
  });

  it('keeps the old name while the line has none, and drops the task when the line is gone', () => {
    expect(
      metadataFromMagic('%%task --retries 1', { task: { name: 'keep' } })
    ).toEqual({
      task: { name: 'keep', retries: 1 }
    });
    expect(
      metadataFromMagic('x = 1', { task: { name: 'gone' }, skip: true })
    ).toEqual({ skip: true });
    expect(metadataFromMagic('%%task')).toEqual({});
  });

  it('agrees with effectiveTaskSettings: mirrored metadata alone describes the same task', () => {
    const line = '%%task load --retries 2 --backoff 3 --after=';
    const fromLine = effectiveTaskSettings({ source: line + '\nx' });
    const fromMetadata = effectiveTaskSettings({
      source: 'x',
      metadata: { cellflow: metadataFromMagic(line) }
    });
    expect(fromMetadata.settings).toEqual(fromLine.settings);
    expect(fromMetadata.after).toEqual(fromLine.after);
    expect(fromMetadata.name).toBe(fromLine.name);
  });
});
