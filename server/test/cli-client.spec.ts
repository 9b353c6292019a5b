/**
 * The client commands as users run them: the built `cellflow` against a real server child (its embedded
 * PGlite store, its admin socket, real ipykernel runs), each command a separate process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { hashApiKey } from '../src/auth/keys.js';

// Each test starts cold `cellflow` processes (a new data dir is a new PGlite database): on two busy
// cores that alone can take tens of seconds, which is not what these tests measure.
vi.setConfig({ testTimeout: 120_000 });

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'server', 'bin', 'cellflow.js');
const KEY_PATTERN = /^cf_[A-Za-z0-9_-]{43}$/;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface CallOptions {
  env?: Record<string, string | undefined>;
  input?: string;
}

let dir: string;
let emptyConfig: string;

/** Runs the built command to its exit, with no API URL/key in its environment unless given. */
function cellflow(args: string[], options: CallOptions = {}): Promise<Result> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    CELLFLOW_API_URL: undefined,
    CELLFLOW_API_KEY: undefined,
    CELLFLOW_CONFIG_DIR: emptyConfig,
    ...options.env
  };
  for (const name of Object.keys(env)) {
    if (env[name] === undefined) {
      delete env[name];
    }
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', chunk => (stdout += chunk));
    child.stderr.on('data', chunk => (stderr += chunk));
    child.on('error', reject);
    child.on('close', code => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

interface ServerChild {
  process: ChildProcess;
  url: string;
  dataDir: string;
}

/** `cellflow server --port 0` on its own data dir; resolves once it printed its address. */
async function startServer(dataDir: string): Promise<ServerChild> {
  const child = spawn(
    process.execPath,
    [BIN, 'server', '--port', '0', '--data-dir', dataDir],
    {
      cwd: ROOT,
      // Kernels come from the project's venv (ipykernel), whatever python3 is first on PATH.
      env: { ...process.env, VIRTUAL_ENV: join(ROOT, '.venv') },
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  let stderr = '';
  child.stderr!.on('data', chunk => (stderr += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', chunk => {
      stdout += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match) {
        resolve(match[1]);
      }
    });
    child.on('exit', code =>
      reject(
        new Error(`the server exited (${code}) before listening: ${stderr}`)
      )
    );
  });
  return { process: child, url, dataDir };
}

async function stopServer(server: ServerChild | undefined): Promise<void> {
  if (!server || server.process.exitCode !== null) {
    return;
  }
  const exited = once(server.process, 'exit');
  server.process.kill('SIGTERM');
  await exited;
}

/** Every file's bytes under a folder, for checking what was written to disk. */
async function allFiles(folder: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      out.push(...(await allFiles(path)));
    } else if (entry.isFile()) {
      out.push(await readFile(path));
    }
  }
  return out;
}

const code = (
  source: string,
  id: string,
  metadata: Record<string, unknown> = {}
) => ({
  cell_type: 'code',
  id,
  metadata,
  source,
  outputs: [],
  execution_count: null
});

const notebook = (name: string, cells: unknown[]) => ({
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { cellflow: { name } },
  cells
});

async function notebookFile(name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(content));
  return path;
}

let server: ServerChild;
let key: string;
let apiEnv: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellflow-cli-'));
  emptyConfig = join(dir, 'no-config');
  server = await startServer(join(dir, 'server-data'));
  const created = await cellflow([
    'keys',
    'create',
    '--workspace',
    'team',
    '--name',
    'tests',
    '--data-dir',
    server.dataDir
  ]);
  expect(created.stderr).toContain('workspace team');
  expect(created.code).toBe(0);
  key = created.stdout.trimEnd().split('\n').at(-1)!;
  apiEnv = { CELLFLOW_API_URL: server.url, CELLFLOW_API_KEY: key };
});

afterAll(async () => {
  await stopServer(server);
  if (dir) {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('cellflow keys', () => {
  it('create without a server opens the store: the key alone on stdout, only its hash on disk', async () => {
    const dataDir = join(dir, 'keys-only');
    const result = await cellflow([
      'keys',
      'create',
      '--workspace',
      'ops',
      '--name',
      'nightly',
      '--data-dir',
      dataDir
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^cf_[A-Za-z0-9_-]{43}\n$/);
    const secret = result.stdout.trim();
    expect(result.stderr).toContain('"nightly"');
    expect(result.stderr).toContain(secret.slice(0, 8));
    expect(result.stderr).not.toContain(secret);

    const files = await allFiles(dataDir);
    expect(files.some(bytes => bytes.includes(hashApiKey(secret)))).toBe(true);
    expect(files.some(bytes => bytes.includes(secret))).toBe(false);
    expect(files.some(bytes => bytes.includes(secret.slice(3)))).toBe(false);

    const list = await cellflow([
      'keys',
      'list',
      '--workspace',
      'ops',
      '--data-dir',
      dataDir
    ]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0].split(/\s{2,}/)).toEqual([
      'ID',
      'PREFIX',
      'NAME',
      'CREATED',
      'LAST USED',
      'REVOKED'
    ]);
    expect(lines).toHaveLength(2);
    const [id, prefix, name, , lastUsed, revoked] = lines[1].split(/\s{2,}/);
    expect(prefix).toBe(`${secret.slice(0, 8)}…`);
    expect(name).toBe('nightly');
    expect(lastUsed).toBe('-');
    expect(revoked).toBe('-');
    expect(list.stdout).not.toContain(secret);

    const revoke = await cellflow([
      'keys',
      'revoke',
      id,
      '--workspace',
      'ops',
      '--data-dir',
      dataDir
    ]);
    expect(revoke.stderr).toBe(`Revoked API key ${id}.\n`);
    expect(revoke.code).toBe(0);
    const again = await cellflow([
      'keys',
      'revoke',
      id,
      '--workspace',
      'ops',
      '--data-dir',
      dataDir
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      `cellflow: no active API key with id ${id} in workspace ops (unknown or already revoked)\n`
    );
    const after = await cellflow([
      'keys',
      'list',
      '--workspace',
      'ops',
      '--data-dir',
      dataDir
    ]);
    expect(
      after.stdout
        .trimEnd()
        .split('\n')[1]
        .split(/\s{2,}/)[5]
    ).toMatch(/^\d{4}-\d\d-\d\d /);
  });

  it('create while a server holds the data dir goes through its admin socket, and the key works at once', async () => {
    // A second PGlite opened on the server's folder would not be seen by the server: a key the server
    // accepts right away was written by the server itself.
    const created = await cellflow([
      'keys',
      'create',
      '--workspace',
      'team',
      '--name',
      'second',
      '--data-dir',
      server.dataDir
    ]);
    expect(created.code).toBe(0);
    const secret = created.stdout.trimEnd().split('\n').at(-1)!;
    expect(secret).toMatch(KEY_PATTERN);
    const me = await fetch(`${server.url}/api/me`, {
      headers: { authorization: `Bearer ${secret}` }
    });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { key: { name: string } }).key.name).toBe(
      'second'
    );

    const list = await cellflow([
      'keys',
      'list',
      '--workspace',
      'team',
      '--data-dir',
      server.dataDir
    ]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(' second');
    expect(list.stdout).toContain(' tests');
    expect(list.stdout).not.toContain(secret);
  });

  it('without an answering socket, refuses a data dir another live server has locked (no second PGlite)', async () => {
    const dataDir = join(dir, 'locked');
    await mkdir(dataDir);
    // This test process stands in for a server that is still starting: alive, lock taken, no socket yet.
    await writeFile(join(dataDir, 'cellflow.lock'), `${process.pid}\n`);
    const result = await cellflow([
      'keys',
      'create',
      '--workspace',
      'ops',
      '--name',
      'x',
      '--data-dir',
      dataDir
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(
      `cellflow: The data directory ${dataDir} is in use by another Cellflow server (pid ${process.pid})`
    );
    expect(await readdir(dataDir)).toEqual(['cellflow.lock']);
  });

  it('usage mistakes exit 2 and --help exits 0', async () => {
    const missing = await cellflow(['keys', 'create', '--name', 'x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      "required option '--workspace <name>' not specified"
    );
    for (const command of ['keys', 'login', 'deploy', 'run', 'runs', 'logs']) {
      const help = await cellflow([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toContain(`Usage: cellflow ${command}`);
    }
  });
});

describe('cellflow login', () => {
  it('checks the key, then writes an owner-only profile used by the other commands', async () => {
    const config = join(dir, 'login-config');
    const login = await cellflow(['login', server.url], {
      env: { CELLFLOW_CONFIG_DIR: config },
      input: `${key}\n`
    });
    expect(login.stderr).toContain('Saved the profile');
    expect(login.code).toBe(0);
    expect(login.stdout).toBe(
      `Logged in to ${server.url} as workspace team (key "tests", ${key.slice(0, 8)}…)\n`
    );
    const path = join(config, 'profile.json');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(config)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
      url: server.url,
      key
    });

    const runs = await cellflow(['runs'], {
      env: { CELLFLOW_CONFIG_DIR: config }
    });
    expect(runs.stderr).not.toContain('cellflow:');
    expect(runs.code).toBe(0);
  });

  it('refuses a wrong key with a clear 401 message, never echoes it, and writes nothing', async () => {
    const config = join(dir, 'refused-config');
    const wrong = 'cf_' + 'A'.repeat(43);
    const login = await cellflow(['login', server.url, '--key', wrong], {
      env: { CELLFLOW_CONFIG_DIR: config }
    });
    expect(login.code).toBe(1);
    expect(login.stderr).toBe(
      `cellflow: the server at ${server.url} refused this API key (401 unauthorized); nothing was saved\n`
    );
    expect(login.stdout).toBe('');
    await expect(stat(config)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('says how to log in when nothing is configured', async () => {
    const runs = await cellflow(['runs']);
    expect(runs.code).toBe(1);
    expect(runs.stderr).toBe(
      'cellflow: not logged in to a Cellflow server: log in with "cellflow login URL" (it asks for the key), ' +
        'or set CELLFLOW_API_URL and CELLFLOW_API_KEY\n'
    );
  });

  it('CELLFLOW_API_URL and CELLFLOW_API_KEY beat the profile', async () => {
    const config = join(dir, 'stale-config');
    const stale = await cellflow(['login', server.url, '--key', key], {
      env: { CELLFLOW_CONFIG_DIR: config }
    });
    expect(stale.code).toBe(0);
    // The profile now points at a port nobody listens on, with a key the server refuses.
    await writeFile(
      join(config, 'profile.json'),
      JSON.stringify({ url: 'http://127.0.0.1:9', key: 'cf_' + 'B'.repeat(43) })
    );
    const byProfile = await cellflow(['runs'], {
      env: { CELLFLOW_CONFIG_DIR: config }
    });
    expect(byProfile.code).toBe(1);
    expect(byProfile.stderr).toContain(
      'cannot reach the Cellflow server at http://127.0.0.1:9'
    );

    const byEnv = await cellflow(['runs'], {
      env: { CELLFLOW_CONFIG_DIR: config, ...apiEnv }
    });
    expect(byEnv.stderr).not.toContain('cellflow:');
    expect(byEnv.code).toBe(0);

    // The URL from the environment and the key from the profile: the profile's key is refused.
    const mixed = await cellflow(['runs'], {
      env: { CELLFLOW_CONFIG_DIR: config, CELLFLOW_API_URL: server.url }
    });
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain(
      `the server at ${server.url} refused the API key (401 unauthorized`
    );
    expect(mixed.stderr).not.toContain('B'.repeat(43));
  });
});

describe('cellflow deploy, run, runs, logs', () => {
  it('deploy of a notebook with problems exits 2 and names each cell', async () => {
    const path = await notebookFile(
      'bad.ipynb',
      notebook('bad', [
        code('%%task extract\nx = 1', 'first'),
        code('%%task extract\ny = 2', 'second'),
        code('%%task load --after transfrom\nz = 3', 'third')
      ])
    );
    const result = await cellflow(['deploy', path], { env: apiEnv });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(
      `cellflow deploy: the server refused ${path}: 3 problems:`
    );
    expect(lines.slice(1)).toEqual([
      `${path}: Cell 1 (task "extract"): the task name "extract" is also used by cell 2; task names must be unique [cell id first]`,
      `${path}: Cell 2 (task "extract"): the task name "extract" is also used by cell 1; task names must be unique [cell id second]`,
      `${path}: Cell 3 (task "load"): it runs after "transfrom", which is not a task in this notebook [cell id third]`
    ]);
  });

  it('deploy, run --watch until Completed (exit 0), then runs lists it and logs prints its output', async () => {
    const path = await notebookFile(
      'good.ipynb',
      notebook('counting', [
        code('n = 3', 'params', { tags: ['parameters'] }),
        code(
          "%%task extract\nprint('extracting', n)\nitems = list(range(n))",
          'e'
        ),
        // Fails its first attempt, then passes: the kernel keeps `tries` between attempts.
        code(
          "%%task transform --retries 2 --retry-delay 0\ntries = globals().get('tries', 0) + 1\n" +
            "if tries == 1:\n    raise ValueError('first try')\ndoubled = [i * 2 for i in items]",
          't'
        ),
        code("%%task load\nprint('total', sum(doubled))", 'l')
      ])
    );
    const deployed = await cellflow(['deploy', path], { env: apiEnv });
    expect(deployed.stderr).toBe(
      `Deployed ${path} as flow "counting" version 1 (tasks: extract, transform, load) on kernel python3.\n`
    );
    expect(deployed.code).toBe(0);
    const [flowId, version] = deployed.stdout.trim().split(' ');
    expect(version).toBe('1');

    const run = await cellflow(['run', 'counting', '-p', 'n=5', '--watch'], {
      env: apiEnv
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    const runId = lines[0];
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    const progress = lines.slice(1).filter(line => !line.includes('| '));
    const completed = /^(\S+)\s+Completed in \d+\.\d s$/;
    expect(
      progress.map(line => line.replace(/ in \d+\.\d s$/, ' in T'))
    ).toEqual([
      'Run Running',
      'extract    Running',
      'extract    Completed in T',
      'transform  Running',
      'transform  Attempt 1 failed: ValueError: first try; will retry',
      'transform  Retrying 1/2',
      'transform  Completed in T',
      'load       Running',
      'load       Completed in T',
      'Run Completed in T'
    ]);
    // Three tasks and the run itself, each with a measured duration.
    expect(progress.filter(line => completed.test(line))).toHaveLength(4);
    expect(lines).toContain('extract  | extracting 5');
    expect(lines).toContain('load     | total 20');

    const runs = await cellflow(['runs', '--flow', flowId], { env: apiEnv });
    expect(runs.code).toBe(0);
    const rows = runs.stdout.trimEnd().split('\n');
    expect(rows[0].split(/\s{2,}/)).toEqual([
      'ID',
      'FLOW',
      'STATE',
      'TRIGGER',
      'SCHEDULED',
      'STARTED',
      'DURATION'
    ]);
    expect(rows).toHaveLength(2);
    const [id, flow, state, trigger, scheduled, started, duration] =
      rows[1].split(/\s{2,}/);
    expect({ id, flow, state, trigger, scheduled }).toEqual({
      id: runId,
      flow: 'counting',
      state: 'Completed',
      trigger: 'manual',
      scheduled: '-'
    });
    expect(started).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(duration).toMatch(/^\d+\.\d s$/);

    const logs = await cellflow(['logs', runId], { env: apiEnv });
    expect(logs.code).toBe(0);
    expect(logs.stdout.split('\n')).toEqual(
      expect.arrayContaining(['extract| extracting 5', 'load| total 20'])
    );
    const loadOnly = await cellflow(['logs', runId, '--task', 'load'], {
      env: apiEnv
    });
    expect(loadOnly.stdout).toBe('total 20\n');
  });

  it('run --watch of a failing flow prints the error and exits 1', async () => {
    const path = await notebookFile(
      'failing.ipynb',
      notebook('failing', [
        code('%%task extract\nx = 1', 'e'),
        code("%%task load\nraise ValueError('boom')", 'l')
      ])
    );
    expect((await cellflow(['deploy', path], { env: apiEnv })).code).toBe(0);
    const run = await cellflow(['run', 'failing', '--watch'], { env: apiEnv });
    expect(run.code).toBe(1);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toContain('load     Failed: ValueError: boom');
    expect(lines.at(-1)).toMatch(/^Run Failed/);
  });

  it('run refuses unknown flows, unknown parameters (naming them) and malformed -p', async () => {
    const unknownFlow = await cellflow(['run', 'no-such-flow'], {
      env: apiEnv
    });
    expect(unknownFlow.code).toBe(1);
    expect(unknownFlow.stderr).toBe(
      'cellflow: no flow with the id or name "no-such-flow" in this workspace; deploy it with "cellflow deploy NOTEBOOK"\n'
    );
    const unknownParameter = await cellflow(
      ['run', 'counting', '-p', 'colour=red'],
      { env: apiEnv }
    );
    expect(unknownParameter.code).toBe(1);
    expect(unknownParameter.stderr).toMatch(/^cellflow: .*colour/);
    expect(unknownParameter.stdout).toBe('');
    const malformed = await cellflow(['run', 'counting', '-p', 'n'], {
      env: apiEnv
    });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain(
      "argument 'n' is invalid. expected name=value."
    );
  });
});
