import { describe, expect, it } from 'vitest';

import { formatCacheFor, parseCacheFor } from '../cache-duration.js';
import {
  effectiveTaskSettings,
  formatTaskMagic,
  metadataFromMagic,
  parseTaskMagic,
  readCellflowMetadata
} from '../magic.js';
import { cachedReason, taskCacheKey, TaskKeyInput } from '../task-cache.js';

describe('--cache-for and --cache-key in the %%task line', () => {
  it('reads a duration and an expression, quoted or not', () => {
    const magic = parseTaskMagic(
      '%%task extract --cache-for 1h --cache-key "str(date.today())" --retries 2'
    );
    expect(magic.problems).toEqual([]);
    expect(magic.settings).toEqual({
      cacheFor: 3600,
      cacheKey: 'str(date.today())',
      retries: 2
    });
    expect(magic.order).toEqual(['cacheFor', 'cacheKey', 'retries']);
    expect(
      parseTaskMagic("%%task a --cache-for=7d --cache-key='x + y'").settings
    ).toEqual({ cacheFor: 7 * 86400, cacheKey: 'x + y' });
    expect(
      parseTaskMagic('%%task a --cache-for 90 --cache-key k').settings
    ).toEqual({
      cacheFor: 90,
      cacheKey: 'k'
    });
  });

  it('refuses durations out of 1 s..365 d and empty keys, naming the option and the value', () => {
    const messages = (line: string) =>
      parseTaskMagic(line).problems.map(p => `${p.code}: ${p.message}`);
    expect(messages('%%task a --cache-for 0s')).toEqual([
      'invalid-cache-for: --cache-for must be at least 1 second, got "0s"'
    ]);
    expect(messages('%%task a --cache-for 366d')).toEqual([
      'invalid-cache-for: --cache-for must be at most 365 days (31536000 seconds), got "366d"'
    ]);
    expect(messages('%%task a --cache-for soon')).toEqual([
      'invalid-cache-for: --cache-for must be a duration such as 30s, 10m, 1h or 7d, got "soon"'
    ]);
    expect(messages('%%task a --cache-for 1.5h')[0]).toMatch(
      /^invalid-cache-for/
    );
    expect(messages('%%task a --cache-key ""')).toEqual([
      'invalid-cache-key: --cache-key must be a Python expression, e.g. "str(date.today())"'
    ]);
    expect(messages(`%%task a --cache-key ${'x'.repeat(1001)}`)).toEqual([
      'invalid-cache-key: --cache-key must be at most 1000 characters, got 1001'
    ]);
    expect(messages('%%task a --cache-for')).toEqual([
      'missing-value: --cache-for needs a value, e.g. --cache-for 1h'
    ]);
  });

  it('writes the options back, mirrors them into metadata and reads them from metadata', () => {
    expect(
      formatTaskMagic('extract', { cacheFor: 3600, cacheKey: 'str(day)' })
    ).toBe('%%task extract --cache-for 1h --cache-key str(day)');
    expect(
      formatTaskMagic('extract', { cacheFor: 90, cacheKey: 'a + b' })
    ).toBe('%%task extract --cache-for 90s --cache-key "a + b"');
    const line = '%%task extract --cache-for 2d --cache-key "f(\'x\')"';
    const meta = metadataFromMagic(line);
    expect(meta.task).toEqual({
      name: 'extract',
      cacheFor: 172800,
      cacheKey: "f('x')"
    });
    expect(readCellflowMetadata({ cellflow: meta }).task?.settings).toEqual({
      cacheFor: 172800,
      cacheKey: "f('x')"
    });
    expect(
      readCellflowMetadata({
        cellflow: { task: { name: 'a', cacheFor: 0, cacheKey: 3 } }
      }).problems.map(p => p.code)
    ).toEqual(['invalid-cache-for', 'invalid-cache-key']);
    const effective = effectiveTaskSettings({
      source: '%%task a --cache-for 1h\nx = 1',
      metadata: {}
    });
    expect(effective.settings.cacheFor).toBe(3600);
    expect(
      effectiveTaskSettings({
        source: '%%task a --cache-key k\nx = 1'
      }).warnings.map(w => w.code)
    ).toEqual(['cache-key-without-cache-for']);
    // A mapped task's elements are never cached: said where the options are read.
    expect(
      effectiveTaskSettings({
        source: '%%task fetch --map url=urls --cache-for 1h\nurl'
      }).warnings.map(w => w.code)
    ).toEqual(['map-not-cached']);
  });

  it('writes back every expression the line reads as it read it', () => {
    for (const expression of [
      'str(day)',
      'a + b',
      `f("x") + 'y'`,
      `"a"+'b'`,
      `"quoted"`,
      `f('a b')`
    ]) {
      const line = formatTaskMagic('t', { cacheFor: 60, cacheKey: expression });
      expect(parseTaskMagic(line).settings.cacheKey).toBe(expression);
    }
  });

  it('parses and formats durations the same way', () => {
    for (const seconds of [1, 59, 60, 90, 3600, 5400, 86400, 31536000]) {
      expect(parseCacheFor(formatCacheFor(seconds))).toBe(seconds);
    }
  });
});

describe('the cache key', () => {
  const base: TaskKeyInput = {
    flow: 'etl',
    task: {
      name: 'extract',
      code: 'rows = fetch(limit)',
      setup: [{ cellId: 's', cellIndex: 0, code: 'import requests' }],
      cacheKey: 'day'
    },
    parametersCode: 'limit = 10',
    parameters: { limit: 10, url: 'http://x' },
    upstream: { prepare: 'abc' },
    keyValue: "'2026-12-07'"
  };

  it('is stable, and does not depend on the order parameters were given in', () => {
    expect(taskCacheKey(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(taskCacheKey(base)).toBe(
      taskCacheKey({ ...base, parameters: { url: 'http://x', limit: 10 } })
    );
  });

  it('changes with the code, the setup, a parameter, an upstream key and the expression or its value', () => {
    const key = taskCacheKey(base);
    const variants: TaskKeyInput[] = [
      { ...base, task: { ...base.task, code: 'rows = fetch(limit * 2)' } },
      {
        ...base,
        task: {
          ...base.task,
          setup: [{ cellId: 's', cellIndex: 0, code: 'import httpx' }]
        }
      },
      { ...base, parameters: { ...base.parameters, limit: 11 } },
      { ...base, parametersCode: 'limit = 11' },
      { ...base, upstream: { prepare: 'abd' } },
      { ...base, keyValue: "'2026-12-08'" },
      { ...base, task: { ...base.task, cacheKey: 'day2' } },
      { ...base, task: { ...base.task, name: 'extract2' } },
      { ...base, flow: 'other' }
    ];
    const keys = new Set(variants.map(taskCacheKey));
    expect(keys.size).toBe(variants.length);
    expect(keys.has(key)).toBe(false);
  });

  it('names the run a hit came from', () => {
    expect(cachedReason('0f1e2d3c-aaaa-bbbb')).toBe(
      'Cached (from run 0f1e2d3c)'
    );
  });
});
