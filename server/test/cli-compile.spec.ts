import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { compileNotebook } from '../../src/flow/compiler.js';

// Each test starts cold `cellflow` processes (a new data dir is a new PGlite database): on two busy
// cores that alone can take tens of seconds, which is not what these tests measure.
vi.setConfig({ testTimeout: 120_000 });

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'server', 'bin', 'cellflow.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `cellflow` command and resolves once it has exited. */
function cellflow(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', chunk => (stdout += chunk));
    child.stderr.on('data', chunk => (stderr += chunk));
    child.on('error', reject);
    child.on('close', code => resolve({ code, stdout, stderr }));
  });
}

const cell = (source: string, metadata: Record<string, unknown> = {}) => ({
  cell_type: 'code',
  metadata,
  source,
  outputs: [],
  execution_count: null
});

const etl = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { cellflow: { name: 'users-etl' } },
  cells: [
    { cell_type: 'markdown', id: 'title', metadata: {}, source: '# Users ETL' },
    {
      ...cell("url = 'http://localhost:8000/users'\nout_dir = 'out'", {
        tags: ['parameters']
      }),
      id: 'params'
    },
    { ...cell('import requests\nimport pandas as pd'), id: 'imports' },
    {
      ...cell(
        '%%task extract --retries 3 --retry-delay 10\nraw = requests.get(url).json()'
      ),
      id: 'e'
    },
    { ...cell('%%task transform\ndf = pd.json_normalize(raw)'), id: 't' },
    {
      ...cell(
        "%%task load --after transform\ndf.to_csv(out_dir + '/users.csv')"
      ),
      id: 'l'
    }
  ]
};

let dir: string;
const file = async (name: string, content: string) => {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
};

beforeAll(async () => {
  // The command runs the compiled server (built once by vitest's globalSetup), as users run it.
  dir = await mkdtemp(join(tmpdir(), 'cellflow-compile-'));
});

afterAll(async () => {
  if (dir) {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('cellflow compile NOTEBOOK', () => {
  it('prints the flow spec as pretty JSON and exits 0', async () => {
    const path = await file('etl.ipynb', JSON.stringify(etl));
    const run = await cellflow('compile', path);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout);
    const expected = compileNotebook(etl);
    expect(expected.ok).toBe(true);
    expect(printed).toEqual(expected.ok ? expected.spec : null);
    expect(printed.tasks.map((t: { name: string }) => t.name)).toEqual([
      'extract',
      'transform',
      'load'
    ]);
    expect(printed.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(run.stdout).toContain('\n  "name": "users-etl",\n');
  });

  it('takes --name', async () => {
    const path = await file('named.ipynb', JSON.stringify(etl));
    const run = await cellflow('compile', path, '--name', 'nightly');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).name).toBe('nightly');
  });

  it('lists every problem on stderr, one per line naming its cell, and exits 2', async () => {
    const bad = {
      ...etl,
      cells: [
        cell('x: int = "ten"', { tags: ['parameters'] }),
        { ...cell('%%task extract --retries -1'), id: 'first' },
        { ...cell('%%task extract'), id: 'second' },
        { ...cell('%%task load --after transfrom'), id: 'load' }
      ]
    };
    const path = await file('bad.ipynb', JSON.stringify(bad));
    const run = await cellflow('compile', path);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      `cellflow compile: ${path} has 5 problems:`,
      `${path}: Cell 1 (parameters), line 1: parameter "x" is declared integer but its default "ten" is not a whole number [cell id cell-0]`,
      `${path}: Cell 2 (task "extract"): --retries must be a whole number ≥ 0, got "-1" [cell id first]`,
      `${path}: Cell 2 (task "extract"): the task name "extract" is also used by cell 3; task names must be unique [cell id first]`,
      `${path}: Cell 3 (task "extract"): the task name "extract" is also used by cell 2; task names must be unique [cell id second]`,
      `${path}: Cell 4 (task "load"): it runs after "transfrom", which is not a task in this notebook [cell id load]`
    ]);
  });

  it('says so when the file is missing, without a stack trace', async () => {
    const path = join(dir, 'missing.ipynb');
    const run = await cellflow('compile', path);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `cellflow compile: cannot read ${path}: no such file\n`
    );
  });

  it('says so when the file is a folder', async () => {
    const run = await cellflow('compile', dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      new RegExp(`^cellflow compile: cannot read ${dir}: .*EISDIR.*\\n$`)
    );
  });

  it('says so when the file is not JSON, without a stack trace', async () => {
    const path = await file('broken.ipynb', '{"nbformat": 4, "cells": [');
    const run = await cellflow('compile', path);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      new RegExp(`^cellflow compile: ${path} is not valid JSON: .+\\n$`)
    );
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('says so when the JSON is not a notebook', async () => {
    const path = await file('list.ipynb', '[1, 2]');
    const run = await cellflow('compile', path);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `cellflow compile: ${path} has 1 problem:\n${path}: Not an nbformat 4 notebook: expected a JSON object, got a list\n`
    );
  });
});
