/**
 * The tutorial through the CLI alone, as the README tells it: the users API and a Cellflow server
 * running, `cellflow deploy examples/etl.ipynb --every 10s`, `cellflow runs` until scheduled runs have
 * completed, `cellflow logs RUN`, and the CSV files on disk.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import {
  ROOT,
  VENV_PYTHON,
  cellflow,
  createKey,
  startPrinting,
  startServer,
  stopChild,
  type ServerChild
} from './support/cli-child.js';

const COLUMNS = [
  'ID',
  'Name',
  'Username',
  'Email',
  'Address',
  'PhoneNumber',
  'CompanyName'
];

let dir: string;
let server: ServerChild;
let usersApi: ChildProcess;
let usersUrl: string;
let env: Record<string, string>;

/** One CSV line to fields (pandas quotes fields with commas, such as the address). */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else {
      field += c;
    }
  }
  fields.push(field);
  return fields;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellflow-tutorial-cli-'));
  // Port 0: the API binds a free port and prints the one it got.
  const api = await startPrinting(
    VENV_PYTHON,
    [join(ROOT, 'examples', 'users-api', 'server.py'), '--port', '0'],
    /listening on (http:\/\/\S+\/users)/
  );
  usersApi = api.process;
  usersUrl = api.match[1];
  server = await startServer(join(dir, 'server-data'));
  const configDir = join(dir, 'no-config');
  env = {
    CELLFLOW_API_URL: server.url,
    CELLFLOW_API_KEY: await createKey(server, 'tutorial', configDir),
    CELLFLOW_CONFIG_DIR: configDir
  };
});

afterAll(async () => {
  await stopChild(server?.process);
  await stopChild(usersApi);
  if (dir) {
    await rm(dir, { recursive: true, force: true });
  }
});

it('deploy examples/etl.ipynb --every 10s: scheduled runs complete, their logs tell, and each wrote its own CSV of 10 users', async () => {
  // Relative, as the notebook's default: a sandboxed kernel writes in its run's folder only (here the
  // flow's own folder in the data dir), and its /tmp is its own.
  const deployed = await cellflow(
    [
      'deploy',
      'examples/etl.ipynb',
      '--every',
      '10s',
      '-p',
      `url=${usersUrl}`,
      '-p',
      'out_dir=output'
    ],
    env
  );
  expect(deployed.code, deployed.stderr).toBe(0);
  expect(deployed.stderr).toContain(
    'as flow "etl" version 1 (tasks: extract, transform, load)'
  );
  expect(deployed.stderr).toContain('every 10 seconds');

  // `cellflow runs` until two scheduled runs have completed: each call is a whole CLI process, so
  // the loop is paced by the command itself; the bound only stops a broken scheduler hanging the test.
  type Row = { id: string; state: string; trigger: string };
  let completed: Row[] = [];
  let last = '';
  for (let attempt = 0; attempt < 600 && completed.length < 2; attempt++) {
    const listed = await cellflow(['runs', '--flow', 'etl'], env);
    expect(listed.code, listed.stderr).toBe(0);
    last = listed.stdout;
    const rows: Row[] = listed.stdout
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map(line => {
        const [id, , state, trigger] = line.split(/ {2,}/);
        return { id, state, trigger };
      });
    const failed = rows.find(row =>
      ['Failed', 'Crashed', 'Cancelled'].includes(row.state)
    );
    expect(failed, last).toBeUndefined();
    completed = rows.filter(
      row => row.trigger === 'scheduled' && row.state === 'Completed'
    );
  }
  expect(completed.length, last).toBeGreaterThanOrEqual(2);

  // Each run says which file it wrote: one file per run, never overwritten.
  const written = new Set<string>();
  for (const run of completed) {
    const logs = await cellflow(['logs', run.id], env);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('extract| extracted 10 users');
    const wrote = /load\| wrote 10 rows to (\S+\.csv)/.exec(logs.stdout);
    expect(wrote, logs.stdout).not.toBeNull();
    written.add(wrote![1]);
  }
  expect(written.size).toBe(completed.length);

  const flowFolders = await readdir(join(dir, 'server-data', 'flows'));
  expect(flowFolders).toHaveLength(1);
  const flowDir = join(dir, 'server-data', 'flows', flowFolders[0]);
  const outDir = join(flowDir, 'output');
  const files = (await readdir(outDir)).filter(name => name.endsWith('.csv'));
  expect(files.map(file => join(outDir, file))).toEqual(
    expect.arrayContaining([...written].map(path => join(flowDir, path)))
  );
  for (const file of files) {
    const text = await readFile(join(outDir, file), 'utf8');
    const lines = text.trimEnd().split('\n');
    expect(csvFields(lines[0])).toEqual(COLUMNS);
    expect(lines).toHaveLength(11);
    for (const line of lines.slice(1)) {
      expect(csvFields(line)).toHaveLength(7);
    }
    // The address is "street, suite, city", one field.
    expect(csvFields(lines[1])[4]).toMatch(/^[^,]+, [^,]+, [^,]+$/);
  }
  // Two 10-second periods plus kernel starts: longer than the default test timeout.
}, 180_000);
