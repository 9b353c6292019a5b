/**
 * The API tests' world: one real PGlite store per test file (in a temp dir), a fresh workspace and key
 * per test, and small notebooks to deploy.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { FastifyInstance } from 'fastify';

import { FailedAuthLimit } from '../../src/api/failed-auth-limit.js';
import { buildServer, type ServerOptions } from '../../src/app.js';
import { LocalEventHub } from '../../src/events/hub.js';
import { openPgliteStore } from '../../src/store/index.js';
import type { Store, Workspace } from '../../src/store/store.js';

export interface TestStore {
  store: Store;
  close(): Promise<void>;
}

export async function openTestStore(): Promise<TestStore> {
  const dir = mkdtempSync(join(tmpdir(), 'cellflow-api-'));
  const store = await openPgliteStore(join(dir, 'data'));
  return {
    store,
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

export interface Tenant {
  workspace: Workspace;
  keyId: string;
  secret: string;
  headers: { authorization: string };
}

/** A new workspace with one API key: tests never share rows. */
export async function newTenant(store: Store, label = 'ws'): Promise<Tenant> {
  const workspace = await store.ensureWorkspace(`${label}-${randomUUID()}`);
  const { key, secret } = await store.createApiKey(workspace.id, 'test key');
  return {
    workspace,
    keyId: key.id,
    secret,
    headers: { authorization: `Bearer ${secret}` }
  };
}

export interface TestApp {
  app: FastifyInstance;
  hub: LocalEventHub;
}

export async function testApp(
  store: Store,
  options: Omit<ServerOptions, 'store' | 'hub'> = {}
): Promise<TestApp> {
  const hub = new LocalEventHub();
  const app = await buildServer({
    store,
    hub,
    // The auth matrices send hundreds of bad keys from one address; the limit has tests of its own.
    failedAuthLimit: new FailedAuthLimit({ max: 1_000_000 }),
    ...options
  });
  return { app, hub };
}

type Cell = Record<string, unknown>;

export const codeCell = (
  source: string,
  metadata: Record<string, unknown> = {},
  id: string = randomUUID().slice(0, 8)
): Cell => ({
  cell_type: 'code',
  id,
  metadata,
  source: source.split(/(?<=\n)/),
  outputs: [],
  execution_count: null
});

export const notebookOf = (cells: Cell[]) => ({
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {
    kernelspec: {
      name: 'python3',
      display_name: 'Python 3',
      language: 'python'
    }
  },
  cells
});

/** The tutorial's shape: parameters (a string and an integer), then extract → transform. */
export const etlNotebook = () =>
  notebookOf([
    codeCell(
      'url = "http://127.0.0.1/users"\nlimit = 10',
      { tags: ['parameters'] },
      'params'
    ),
    codeCell('%%task extract\nrows = list(range(limit))', {}, 'extract-cell'),
    codeCell('%%task transform\ntotal = sum(rows)', {}, 'transform-cell')
  ]);

/** Two cells claim the task name "load": a problem naming both cells. */
export const duplicateTaskNotebook = () =>
  notebookOf([
    codeCell('%%task load\nx = 1', {}, 'first-load'),
    codeCell('%%task load\ny = 2', {}, 'second-load')
  ]);
