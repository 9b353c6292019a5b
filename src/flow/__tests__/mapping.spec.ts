/**
 * `--map NAME=ITERABLE`: parsed from the `%%task` line and from `metadata.cellflow.task.map`, checked
 * (identifiers, bounded, distinct), written back, compiled into the spec, and the element names and
 * the collection rule. Running mapped tasks is tested on a real kernel in
 * server/test/mapping-runflow.spec.ts.
 */
import { describe, expect, it } from 'vitest';

import { compileNotebook } from '../compiler.js';
import {
  effectiveTaskSettings,
  formatTaskMagic,
  metadataFromMagic,
  parseTaskMagic
} from '../magic.js';
import {
  MAX_MAP_NAME_LENGTH,
  elementTaskName,
  mapResultsName,
  parseElementTaskName,
  parseMapOption
} from '../mapping-options.js';
import { collectCode, startCode, withElements } from '../mapping.js';
import type { TaskRecord } from '../runner.js';
import type { TaskSpec } from '../spec.js';

const code = (source: string, metadata: Record<string, unknown> = {}) => ({
  cell_type: 'code',
  metadata,
  source,
  outputs: [],
  execution_count: null
});
const notebook = (cells: unknown[]) => ({
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { kernelspec: { name: 'python3', language: 'python' } },
  cells
});

describe('--map in the %%task line', () => {
  it('parses NAME=ITERABLE, with a space or an equals sign after the flag', () => {
    for (const line of [
      '%%task fetch --map url=urls --retries 2',
      '%%task fetch --retries 2 --map=url=urls'
    ]) {
      const magic = parseTaskMagic(line);
      expect(magic.problems).toEqual([]);
      expect(magic.settings).toEqual({
        retries: 2,
        map: { name: 'url', over: 'urls' }
      });
    }
  });

  it('names what is wrong: no =, not identifiers, keywords, too long, the same name twice', () => {
    const cases: [string, string][] = [
      [
        '--map urls',
        '--map takes NAME=ITERABLE, e.g. "--map url=urls", got "urls"'
      ],
      [
        '--map 1url=urls',
        '--map element name "1url" is not a Python identifier (letters, digits and _, not starting with a digit)'
      ],
      [
        '--map url=my-urls',
        '--map iterable "my-urls" is not a Python identifier (letters, digits and _, not starting with a digit)'
      ],
      [
        '--map for=urls',
        '--map element name "for" is a Python keyword, which cannot be used as a name'
      ],
      ['--map url=', '--map iterable is empty'],
      [
        `--map ${'u'.repeat(MAX_MAP_NAME_LENGTH + 1)}=urls`,
        `--map element name must be at most ${MAX_MAP_NAME_LENGTH} characters, got ${MAX_MAP_NAME_LENGTH + 1}`
      ],
      [
        '--map urls=urls',
        '--map binds each element to "urls", the iterable\'s own name: give the element another name, e.g. "--map item=urls"'
      ],
      ['--map', '--map needs a value, e.g. --map url=urls']
    ];
    for (const [option, message] of cases) {
      const magic = parseTaskMagic(`%%task fetch ${option}`);
      expect(magic.problems.map(p => p.message)).toEqual([message]);
      expect(magic.settings.map).toBeUndefined();
    }
    expect(
      parseTaskMagic('%%task fetch --map a=b --map c=d').problems[0].message
    ).toBe('--map is given more than once in the %%task line');
    expect(parseMapOption(' url = urls ')).toEqual({
      value: { name: 'url', over: 'urls' },
      problems: []
    });
  });

  it('writes the option back, keeping its place, and mirrors it into the metadata', () => {
    const line = '%%task fetch --map url=urls --retries 1';
    const task = effectiveTaskSettings({ source: line + '\nurl' });
    expect(task.map).toEqual({ name: 'url', over: 'urls' });
    expect(
      formatTaskMagic(
        'fetch',
        { ...task.settings, retries: 3, after: task.after, map: task.map },
        line
      )
    ).toBe('%%task fetch --map url=urls --retries 3');
    expect(formatTaskMagic('fetch', { map: null })).toBe('%%task fetch');
    expect(metadataFromMagic(line)).toEqual({
      task: { name: 'fetch', retries: 1, map: { name: 'url', over: 'urls' } }
    });
  });
});

describe('map in metadata.cellflow.task', () => {
  it('reads {name, over} and lets the %%task line win', () => {
    const meta = {
      cellflow: { task: { name: 'fetch', map: { name: 'url', over: 'urls' } } }
    };
    expect(
      effectiveTaskSettings({ source: 'url', metadata: meta }).map
    ).toEqual({ name: 'url', over: 'urls' });
    expect(
      effectiveTaskSettings({
        source: '%%task fetch --map page=pages\npage',
        metadata: meta
      }).map
    ).toEqual({ name: 'page', over: 'pages' });
  });

  it('names the field at fault', () => {
    const problems = (map: unknown) =>
      effectiveTaskSettings({
        source: 'x',
        metadata: { cellflow: { task: { name: 'fetch', map } } }
      }).problems.map(p => p.message);
    expect(problems('url=urls')).toEqual([
      'metadata.cellflow.task.map must be an object such as {"name": "url", "over": "urls"}, got "url=urls"'
    ]);
    expect(problems({ name: 'url', over: 3 })).toEqual([
      'metadata.cellflow.task.map iterable must be a string, got 3'
    ]);
  });
});

describe('compiling a mapped task', () => {
  it('puts the map in the task spec, and names the cell of a bad --map', () => {
    const ok = compileNotebook(
      notebook([
        code('%%task make\nurls = [1, 2]'),
        code('%%task fetch --map url=urls --retries 1\nurl * 2'),
        code('%%task total\nsum(fetch_results)')
      ])
    );
    expect(ok.ok).toBe(true);
    if (!ok.ok) {
      return;
    }
    const fetch = ok.spec.tasks.find(t => t.name === 'fetch')!;
    expect(fetch.map).toEqual({ name: 'url', over: 'urls' });
    expect(fetch.code).toBe('url * 2');
    expect(fetch.retries).toBe(1);
    expect(ok.spec.tasks.find(t => t.name === 'make')).not.toHaveProperty(
      'map'
    );

    const bad = compileNotebook(
      notebook([code('%%task fetch --map url-urls\nurl')])
    );
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.problems).toEqual([
        expect.objectContaining({
          code: 'invalid-map',
          cellIndex: 0,
          message:
            'Cell 1 (task "fetch"): --map takes NAME=ITERABLE, e.g. "--map url=urls", got "url-urls"'
        })
      ]);
    }
  });
});

describe('element names and the collection rule', () => {
  it('names elements fetch[i] and reads the names back', () => {
    expect(elementTaskName('fetch', 3)).toBe('fetch[3]');
    expect(parseElementTaskName('fetch[12]')).toEqual({
      task: 'fetch',
      index: 12
    });
    expect(parseElementTaskName('fetch')).toBeNull();
    expect(parseElementTaskName('fetch[x]')).toBeNull();
    expect(mapResultsName('fetch')).toBe('fetch_results');
  });

  it('reads the iterable once, bounded, and binds <task>_results', () => {
    const task = {
      name: 'fetch',
      map: { name: 'url', over: 'urls' }
    } as TaskSpec & { map: { name: string; over: string } };
    expect(startCode(task)).toContain('> 1000:');
    expect(startCode(task)).toContain('list(iter(urls))');
    expect(collectCode(task, 3)).toContain('fetch_results = [');
  });

  it("lists a mapped task's elements right after it, in element order", () => {
    const record = (name: string) => ({ name }) as TaskRecord;
    const records = new Map(
      ['a', 'fetch', 'b', 'fetch[1]', 'fetch[0]'].map(n => [n, record(n)])
    );
    expect(withElements(['a', 'fetch', 'b'], records).map(r => r.name)).toEqual(
      ['a', 'fetch', 'fetch[0]', 'fetch[1]', 'b']
    );
  });
});
