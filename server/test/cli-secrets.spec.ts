/**
 * `cellflow secrets` as users run it (the built command, one child process per call) against a real
 * server: the HTTP API and the admin socket with the secrets service, listening here on a PGlite store.
 * The value comes from stdin and never shows in stdout or stderr; with --workspace and no server the
 * command opens the store and the data directory's secrets key itself.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  buildAdminApp,
  startAdminChannel,
  type AdminChannel
} from '../src/admin/socket.js';
import { buildServer } from '../src/app.js';
import {
  openWorkspaceSecrets,
  type WorkspaceSecrets
} from '../src/secrets/workspace-secrets.js';
import { openPgliteStore } from '../src/store/index.js';
import type { Store, Workspace } from '../src/store/store.js';
import { adminRequest } from './support/http.js';
import {
  ROOT,
  cellflow as runCellflow,
  type Result
} from './support/cli-child.js';

/** The built command with `input` piped to its stdin; only `env` of CELLFLOW_* reaches it. */
const cellflow = (args: string[], env: Record<string, string>, input = '') =>
  runCellflow(args, env, ROOT, input);

const distinctive = () => `s3cr3t-${randomUUID()}`;

function expectNoValue(result: Result, ...values: string[]): void {
  for (const value of values) {
    expect(result.stdout).not.toContain(value);
    expect(result.stderr).not.toContain(value);
  }
}

let dir: string;
let dataDir: string;
let store: Store;
let secrets: WorkspaceSecrets;
let app: FastifyInstance;
let admin: AdminChannel;
let team: Workspace;
let apiEnv: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cellflow-cli-secrets-'));
  dataDir = join(dir, 'server-data');
  store = await openPgliteStore(dataDir);
  secrets = await openWorkspaceSecrets({ store, dataDir, env: {} });
  app = await buildServer({ store, secrets });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  admin = await startAdminChannel(store, dataDir, { secrets });
  team = await store.ensureWorkspace('team');
  const { secret } = await store.createApiKey(team.id, 'tests');
  apiEnv = {
    CELLFLOW_API_URL: url,
    CELLFLOW_API_KEY: secret,
    CELLFLOW_CONFIG_DIR: join(dir, 'config')
  };
});

afterAll(async () => {
  await admin?.close();
  await app?.close();
  await store?.close();
  if (dir) {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('cellflow secrets, through the API (the login profile)', () => {
  it('sets from stdin, lists names and times only, replaces and deletes', async () => {
    const value = distinctive();
    const set = await cellflow(
      ['secrets', 'set', 'API_TOKEN'],
      apiEnv,
      `${value}\n`
    );
    expect(set).toMatchObject({
      code: 0,
      stdout: 'Secret API_TOKEN set for workspace team\n'
    });
    expectNoValue(set, value);
    // One trailing newline (echo's) is dropped; the rest is the value as piped.
    expect(await secrets.envFor(team.id)).toEqual({ API_TOKEN: value });

    const pem = `-----BEGIN-----\n${distinctive()}\n-----END-----\n`;
    const multi = await cellflow(
      ['secrets', 'set', 'PEM_KEY'],
      apiEnv,
      `${pem}\n`
    );
    expect(multi.code).toBe(0);
    expectNoValue(multi, pem);
    const replacement = distinctive();
    const replaced = await cellflow(
      ['secrets', 'set', 'API_TOKEN'],
      apiEnv,
      replacement
    );
    expect(replaced.code).toBe(0);
    expect(await secrets.envFor(team.id)).toEqual({
      API_TOKEN: replacement,
      PEM_KEY: pem
    });

    const list = await cellflow(['secrets', 'list'], apiEnv);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0].split(/\s{2,}/)).toEqual(['NAME', 'CREATED', 'UPDATED']);
    const rows = lines.slice(1).map(line => line.split(/\s{2,}/));
    expect(rows.map(r => r[0])).toEqual(['API_TOKEN', 'PEM_KEY']);
    for (const row of rows) {
      expect(row[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      expect(row[2]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    }
    expectNoValue(list, value, replacement, pem);

    const deleted = await cellflow(['secrets', 'delete', 'PEM_KEY'], apiEnv);
    expect(deleted).toMatchObject({
      code: 0,
      stdout: 'Secret PEM_KEY deleted from workspace team\n'
    });
    const again = await cellflow(['secrets', 'delete', 'PEM_KEY'], apiEnv);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no secret PEM_KEY in workspace team');
    expect(await secrets.envFor(team.id)).toEqual({ API_TOKEN: replacement });

    expect(
      (await cellflow(['secrets', 'delete', 'API_TOKEN'], apiEnv)).code
    ).toBe(0);
    const empty = await cellflow(['secrets', 'list'], apiEnv);
    expect(empty).toMatchObject({
      code: 0,
      stdout: '',
      stderr: 'No secrets in workspace team.\n'
    });
  });

  it('takes no value from the command line, and refuses bad names and an empty stdin', async () => {
    const value = distinctive();
    const onArgv = await cellflow(
      ['secrets', 'set', 'API_TOKEN', value],
      apiEnv
    );
    expect(onArgv.code).toBe(2);
    expect(onArgv.stderr).toContain('too many arguments');
    expectNoValue(onArgv, value);

    const reserved = await cellflow(['secrets', 'set', 'PATH'], apiEnv, value);
    expect(reserved.code).toBe(2);
    expect(reserved.stderr).toContain('PATH is reserved');
    const badName = await cellflow(
      ['secrets', 'set', 'not-a-name'],
      apiEnv,
      value
    );
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('environment variable name');
    const noValue = await cellflow(['secrets', 'set', 'API_TOKEN'], apiEnv);
    expect(noValue.code).toBe(1);
    expect(noValue.stderr).toContain('no value on stdin');
    const nul = await cellflow(
      ['secrets', 'set', 'API_TOKEN'],
      apiEnv,
      `${value}\0`
    );
    expect(nul.code).toBe(2);
    expect(nul.stderr).toContain('NUL');
    for (const result of [reserved, badName, nul]) {
      expectNoValue(result, value);
    }
    expect(await secrets.list(team.id)).toEqual([]);

    const stray = await cellflow(
      ['secrets', 'list', '--data-dir', dir],
      apiEnv
    );
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain('go with --workspace');
    const missing = await cellflow(['secrets', 'set'], apiEnv);
    expect(missing.code).toBe(2);
    const help = await cellflow(['secrets', '--help'], apiEnv);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('set');
  });
});

describe('cellflow secrets --workspace, on the server machine', () => {
  it('goes through the admin socket of the running server, and refuses an unknown workspace', async () => {
    const other = await store.ensureWorkspace(`ops-${randomUUID()}`);
    const env = { CELLFLOW_CONFIG_DIR: join(dir, 'no-profile') };
    const where = ['--workspace', other.name, '--data-dir', dataDir];
    const value = distinctive();
    const set = await cellflow(
      ['secrets', 'set', 'DB_PASSWORD', ...where],
      env,
      value
    );
    expect(set).toMatchObject({
      code: 0,
      stdout: `Secret DB_PASSWORD set for workspace ${other.name}\n`
    });
    expect(await secrets.envFor(other.id)).toEqual({ DB_PASSWORD: value });
    expect(await secrets.list(team.id)).toEqual([]);

    const list = await cellflow(['secrets', 'list', ...where], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('DB_PASSWORD');
    expectNoValue(list, value);

    const unknown = `nope-${randomUUID()}`;
    for (const args of [['set', 'X_TOKEN'], ['list'], ['delete', 'X_TOKEN']]) {
      const refused = await cellflow(
        ['secrets', ...args, '--workspace', unknown, '--data-dir', dataDir],
        env,
        value
      );
      expect(refused.code, args.join(' ')).toBe(1);
      expect(refused.stderr).toContain(`no workspace named ${unknown}`);
      expectNoValue(refused, value);
    }
    expect(await store.findWorkspaceByName(unknown)).toBeNull();

    const deleted = await cellflow(
      ['secrets', 'delete', 'DB_PASSWORD', ...where],
      env
    );
    expect(deleted.code).toBe(0);
    const again = await cellflow(
      ['secrets', 'delete', 'DB_PASSWORD', ...where],
      env
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      `no secret DB_PASSWORD in workspace ${other.name}`
    );
    expect(await secrets.list(other.id)).toEqual([]);
  });

  it('answers on the admin socket with names only, 404 for an unknown workspace, 400 naming the field', async () => {
    const ws = await store.ensureWorkspace(`sock-${randomUUID()}`);
    const value = distinctive();
    const put = (body: unknown) =>
      adminRequest(admin.path, 'PUT', '/admin/secrets', body);
    const created = await put({ workspace: ws.name, name: 'TOKEN', value });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      secret: {
        name: 'TOKEN',
        createdAt: expect.any(String),
        updatedAt: expect.any(String)
      },
      created: true
    });
    const replaced = await put({ workspace: ws.name, name: 'TOKEN', value });
    expect(replaced).toMatchObject({ status: 200, body: { created: false } });
    const listed = await adminRequest(
      admin.path,
      'GET',
      `/admin/secrets?workspace=${encodeURIComponent(ws.name)}`
    );
    expect(listed.body.secrets.map((s: { name: string }) => s.name)).toEqual([
      'TOKEN'
    ]);
    for (const answer of [created, replaced, listed]) {
      expect(JSON.stringify(answer.body)).not.toContain(value);
    }

    expect(
      await put({ workspace: 'no-such-workspace', name: 'TOKEN', value })
    ).toEqual({
      status: 404,
      body: {
        error: 'not-found',
        message: 'no workspace named no-such-workspace'
      }
    });
    expect(await store.findWorkspaceByName('no-such-workspace')).toBeNull();
    for (const [body, field] of [
      [{ name: 'TOKEN', value }, 'workspace'],
      [{ workspace: ws.name, name: 'PATH', value }, 'name'],
      [{ workspace: ws.name, value }, 'name'],
      [{ workspace: ws.name, name: 'TOKEN', value: '' }, 'value'],
      [{ workspace: ws.name, name: 'TOKEN' }, 'value']
    ] as const) {
      const refused = await put(body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body).toMatchObject({ error: 'bad-request', field });
      expect(JSON.stringify(refused.body)).not.toContain(value);
    }
    const del = (query: string) =>
      adminRequest(admin.path, 'DELETE', `/admin/secrets?${query}`);
    expect(await del(`workspace=${ws.name}&name=PATH`)).toMatchObject({
      status: 400,
      body: { field: 'name' }
    });
    expect(await del(`workspace=${ws.name}&name=TOKEN`)).toEqual({
      status: 200,
      body: { deleted: true }
    });
    expect(await del(`workspace=${ws.name}&name=TOKEN`)).toEqual({
      status: 200,
      body: { deleted: false }
    });
  });

  it('answers 503 on the admin secrets routes of a server started without the secrets service', async () => {
    const bare = buildAdminApp(store);
    try {
      for (const [method, url] of [
        ['PUT', '/admin/secrets'],
        ['GET', '/admin/secrets?workspace=team'],
        ['DELETE', '/admin/secrets?workspace=team&name=TOKEN']
      ] as const) {
        const res = await bare.inject({
          method,
          url,
          ...(method === 'PUT'
            ? { payload: { workspace: 'team', name: 'TOKEN', value: 'x' } }
            : {})
        });
        expect(res.statusCode, url).toBe(503);
        expect(res.json()).toMatchObject({ error: 'unavailable' });
      }
    } finally {
      await bare.close();
    }
  });

  it('without a running server opens the store and makes the secrets key (0600) in the data dir', async () => {
    const soloDir = join(dir, 'solo-data');
    const solo = await openPgliteStore(soloDir);
    await solo.ensureWorkspace('solo');
    await solo.close();

    const env = { CELLFLOW_CONFIG_DIR: join(dir, 'no-profile') };
    const where = ['--workspace', 'solo', '--data-dir', soloDir];
    const value = distinctive();
    const set = await cellflow(
      ['secrets', 'set', 'WAREHOUSE_TOKEN', ...where],
      env,
      value
    );
    expect(set).toMatchObject({
      code: 0,
      stdout: 'Secret WAREHOUSE_TOKEN set for workspace solo\n'
    });
    expectNoValue(set, value);
    expect((await stat(join(soloDir, 'secrets.key'))).mode & 0o777).toBe(0o600);
    const list = await cellflow(['secrets', 'list', ...where], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('WAREHOUSE_TOKEN');
    expectNoValue(list, value);
    const unknown = await cellflow(
      ['secrets', 'list', '--workspace', 'elsewhere', '--data-dir', soloDir],
      env
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no workspace named elsewhere');

    // A server on that data dir (its key file) reads what the command set.
    const reopened = await openPgliteStore(soloDir);
    try {
      const served = await openWorkspaceSecrets({
        store: reopened,
        dataDir: soloDir,
        env: {}
      });
      const ws = await reopened.findWorkspaceByName('solo');
      expect(await served.envFor(ws!.id)).toEqual({ WAREHOUSE_TOKEN: value });
      expect(await reopened.findWorkspaceByName('elsewhere')).toBeNull();
    } finally {
      await reopened.close();
    }
  });
});
