/**
 * startCellflowServer's composition in-process: one server per data directory (lock), the admin socket
 * (mode 0600, keys made there work on the API, removed on close), stale files of a killed server taken
 * over, and a run started through the API executed by the run service it woke.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { startCellflowServer, type CellflowServer } from '../src/start.js';
import { notebook, python } from './runs-helpers.js';
import { adminRequest as admin, apiRequest } from './support/http.js';

/** The API of an in-process server. */
const api = (
  server: CellflowServer,
  key: string,
  method: string,
  path: string,
  body?: unknown
) => apiRequest(server.address, key, method, path, body);

const dirs: string[] = [];
const servers: CellflowServer[] = [];

afterAll(async () => {
  await Promise.all(servers.map(s => s.close()));
  await Promise.all(dirs.map(d => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cellflow-admin-'));
  dirs.push(dir);
  return dir;
}

async function start(dataDir: string): Promise<CellflowServer> {
  const server = await startCellflowServer({
    dataDir,
    port: 0,
    kernelPython: python,
    env: {}
  });
  servers.push(server);
  return server;
}

describe('startCellflowServer', () => {
  it('opens the admin socket (0600): keys made there open the API and can be revoked', async () => {
    const dataDir = await tempDir();
    const server = await start(dataDir);
    expect(server.admin.path).toBe(join(dataDir, 'cellflow-admin.sock'));
    expect((await stat(server.admin.path)).mode & 0o777).toBe(0o600);

    expect(
      await admin(server.admin.path, 'POST', '/admin/keys', { name: 'x' })
    ).toMatchObject({
      status: 400,
      body: { error: 'bad-request', field: 'workspace' }
    });
    const created = await admin(server.admin.path, 'POST', '/admin/keys', {
      workspace: 'team',
      name: 'laptop'
    });
    expect(created.status).toBe(201);
    const secret: string = created.body.secret;
    expect(secret).toMatch(/^cf_/);
    expect(created.body.key).toMatchObject({ name: 'laptop' });
    expect(created.body.key.hash).toBeUndefined();

    const me = await api(server, secret, 'GET', '/api/me');
    expect(me).toMatchObject({
      status: 200,
      body: { workspace: { name: 'team' } }
    });

    const listed = await admin(
      server.admin.path,
      'GET',
      '/admin/keys?workspace=team'
    );
    expect(listed.body.keys.map((k: { id: string }) => k.id)).toEqual([
      created.body.key.id
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    const revoked = await admin(
      server.admin.path,
      'POST',
      `/admin/keys/${created.body.key.id}/revoke`,
      {
        workspace: 'team'
      }
    );
    expect(revoked.body).toEqual({ revoked: true });
    expect((await api(server, secret, 'GET', '/api/me')).status).toBe(401);
  });

  it('runs a flow started through the API (the API wakes the run service)', async () => {
    const dataDir = await tempDir();
    const server = await start(dataDir);
    const { body } = await admin(server.admin.path, 'POST', '/admin/keys', {
      workspace: 'w',
      name: 'k'
    });
    const key: string = body.secret;
    const nb = notebook([
      { source: 'who = "world"', tags: ['parameters'] },
      '%%task hello\nprint(f"hello {who}")'
    ]);
    const deployed = await api(server, key, 'POST', '/api/flows', {
      name: 'hello',
      notebook: nb
    });
    expect(deployed.status).toBe(201);
    // Waiting on the hub: the run service notifies it after each write.
    const workspaceId = (await api(server, key, 'GET', '/api/me')).body
      .workspace.id;
    const finished = new Promise<void>(resolve => {
      const stop = server.hub.subscribe(workspaceId, () => {
        void server.store.listRuns({ workspaceId }).then(page => {
          if (page.runs[0] && page.runs[0].state === 'Completed') {
            stop();
            resolve();
          }
        });
      });
    });
    const run = await api(
      server,
      key,
      'POST',
      `/api/flows/${deployed.body.flow.id}/runs`,
      {
        parameters: { who: 'Zoë "Q"' }
      }
    );
    expect(run.status).toBe(201);
    await finished;
    const logs = await api(
      server,
      key,
      'GET',
      `/api/runs/${run.body.run.id}/logs`
    );
    expect(logs.body.lines.map((l: { text: string }) => l.text)).toEqual([
      'hello Zoë "Q"'
    ]);
    const executed = await fetch(
      `${server.address}/api/runs/${run.body.run.id}/notebook`,
      {
        headers: { authorization: `Bearer ${key}` }
      }
    );
    expect(executed.status).toBe(200);
  });

  it('runs what a schedule made through the API plans (the scheduler wakes the run service)', async () => {
    const dataDir = await tempDir();
    const server = await start(dataDir);
    const { body } = await admin(server.admin.path, 'POST', '/admin/keys', {
      workspace: 'sched',
      name: 'k'
    });
    const key: string = body.secret;
    const workspaceId = (await api(server, key, 'GET', '/api/me')).body
      .workspace.id;
    const deployed = await api(server, key, 'POST', '/api/flows', {
      name: 'tick',
      notebook: notebook(['%%task tick\nprint("tick")'])
    });
    const completed = new Promise<string>(resolve => {
      const stop = server.hub.subscribe(workspaceId, () => {
        // By state: the scheduler plans a minute of runs ahead, more than a page of them.
        void server.store
          .listRuns({ workspaceId, state: 'Completed' })
          .then(page => {
            const done = page.runs.find(r => r.trigger === 'scheduled');
            if (done) {
              stop();
              resolve(done.id);
            }
          });
      });
    });
    const schedule = await api(
      server,
      key,
      'POST',
      `/api/flows/${deployed.body.flow.id}/schedules`,
      { kind: 'interval', every: 1 }
    );
    expect(schedule.status).toBe(201);
    const runId = await completed;
    const logs = await api(server, key, 'GET', `/api/runs/${runId}/logs`);
    expect(logs.body.lines.map((l: { text: string }) => l.text)).toEqual([
      'tick'
    ]);
  });

  it('refuses a second server on the same data directory, naming it', async () => {
    const dataDir = await tempDir();
    await start(dataDir);
    await expect(
      startCellflowServer({ dataDir, port: 0, env: {} })
    ).rejects.toThrow(
      `The data directory ${dataDir} is in use by another Cellflow server (pid ${process.pid})`
    );
  });

  it('takes over the lock and socket a killed server left, and removes both on close', async () => {
    const dataDir = await tempDir();
    // A pid no process has: Linux pids stay below 2^22.
    await writeFile(join(dataDir, 'cellflow.lock'), '4194999\n');
    await writeFile(join(dataDir, 'cellflow-admin.sock'), '');
    const server = await start(dataDir);
    expect((await stat(server.admin.path)).isSocket()).toBe(true);
    await server.close();
    expect(existsSync(join(dataDir, 'cellflow-admin.sock'))).toBe(false);
    expect(existsSync(join(dataDir, 'cellflow.lock'))).toBe(false);
  });
});
