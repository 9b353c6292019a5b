/**
 * `cellflow keys list|revoke --workspace NAME` and the admin socket's /admin/keys routes with a
 * workspace that does not exist: they say there is none and create nothing (only `keys create` makes a
 * workspace).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildAdminApp } from '../src/admin/socket.js';
import { CliError } from '../src/cli/client.js';
import { registerKeysCommand } from '../src/cli/keys.js';
import { openPgliteStore, openStore } from '../src/store/index.js';
import type { Store } from '../src/store/store.js';

describe('the admin socket’s key routes with an unknown workspace', () => {
  let store: Store;

  beforeAll(async () => {
    store = await openPgliteStore();
    await store.ensureWorkspace('known');
  });

  afterAll(async () => {
    await store?.close();
  });

  it('GET /admin/keys answers 404 and creates nothing', async () => {
    const app = buildAdminApp(store);
    const answer = await app.inject({
      method: 'GET',
      url: '/admin/keys?workspace=nope'
    });
    expect(answer.statusCode).toBe(404);
    expect(answer.json()).toEqual({
      error: 'not-found',
      message: 'no workspace named nope'
    });
    expect(await store.findWorkspaceByName('nope')).toBeNull();
    // A known workspace still lists (none yet).
    const known = await app.inject({
      method: 'GET',
      url: '/admin/keys?workspace=known'
    });
    expect(known.statusCode).toBe(200);
    expect(known.json()).toEqual({ keys: [] });
    await app.close();
  });

  it('POST /admin/keys/:id/revoke answers 404 and creates nothing', async () => {
    const app = buildAdminApp(store);
    const answer = await app.inject({
      method: 'POST',
      url: '/admin/keys/some-id/revoke',
      payload: { workspace: 'nobody' }
    });
    expect(answer.statusCode).toBe(404);
    expect(answer.json().message).toBe('no workspace named nobody');
    expect(await store.findWorkspaceByName('nobody')).toBeNull();
    await app.close();
  });
});

describe('cellflow keys on the store itself (no server running)', () => {
  let dataDir: string;
  let saved: string | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cellflow-keys-'));
    saved = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
  });

  afterAll(async () => {
    if (saved !== undefined) {
      process.env.DATABASE_URL = saved;
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  async function keys(...args: string[]): Promise<unknown> {
    const program = new Command().exitOverride();
    registerKeysCommand(program);
    return program
      .parseAsync(['node', 'cellflow', 'keys', ...args, '--data-dir', dataDir])
      .then(
        () => null,
        (error: unknown) => error
      );
  }

  it('list and revoke say there is no such workspace (exit 1) and create none', async () => {
    const listed = await keys('list', '--workspace', 'ghost');
    expect(listed).toBeInstanceOf(CliError);
    expect((listed as CliError).message).toBe('no workspace named ghost');
    expect((listed as CliError).exitCode).toBe(1);

    const revoked = await keys('revoke', 'key-1', '--workspace', 'ghost');
    expect(revoked).toBeInstanceOf(CliError);
    expect((revoked as CliError).message).toBe('no workspace named ghost');

    const store = await openStore({ dataDir }, {});
    try {
      expect(await store.findWorkspaceByName('ghost')).toBeNull();
    } finally {
      await store.close();
    }
    // Three openings of the embedded store (the first one makes it): ~10 s alone, far more on a busy machine.
  }, 120_000);
});
