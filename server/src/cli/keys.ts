/**
 * `cellflow keys create|list|revoke`: API keys are made on the server's machine, by whoever owns its
 * data directory. When a server is running on that directory it holds the embedded store (PGlite is
 * one process only), so the command asks it over the admin socket; otherwise it opens the store itself.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

import { Command } from 'commander';

import { defaultDataDir } from '../data-dir.js';
import { lockDataDir, type DataDirLock } from '../data-dir-lock.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/store.js';
import {
  AdminClient,
  AdminUnavailableError,
  adminSocketPath
} from './admin-client.js';
import { CliError, usageErrorsExit2 } from './client.js';
import { formatTable, formatTime } from './table.js';

interface DataOptions {
  dataDir?: string;
}

/** A key as either path returns it (the admin socket sends strings, the store Dates). */
interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  createdAt: string | Date;
  lastUsedAt: string | Date | null;
  revokedAt: string | Date | null;
}

export function registerKeysCommand(program: Command): void {
  const keys = usageErrorsExit2(
    program
      .command('keys')
      .description(
        'Create, list and revoke API keys (on the server machine, as the owner of its data directory)'
      )
  );
  const dataDirHelp =
    'the server data directory (default: $CELLFLOW_DATA_DIR, else ~/.local/share/cellflow); ignored for the store when DATABASE_URL is set';

  keys
    .command('create')
    .description(
      'Create an API key; prints the key alone on the last line of stdout (it is shown once)'
    )
    .requiredOption('--workspace <name>', 'the workspace (created if new)')
    .requiredOption('--name <label>', 'a label saying who or what uses the key')
    .option('--data-dir <dir>', dataDirHelp)
    .action(async (opts: DataOptions & { workspace: string; name: string }) => {
      const created = await withKeys<{ key: KeyRow; secret: string }>(
        opts,
        admin => admin.createKey(opts.workspace, opts.name),
        async store => {
          const workspace = await store.ensureWorkspace(opts.workspace);
          return store.createApiKey(workspace.id, opts.name);
        }
      );
      process.stderr.write(
        `Created API key "${created.key.name}" (${created.key.prefix}…, id ${created.key.id}) ` +
          `in workspace ${opts.workspace}. It is shown once, below; the server keeps only its hash.\n`
      );
      process.stdout.write(`${created.secret}\n`);
    });

  keys
    .command('list')
    .description('List API keys (never their secrets)')
    // Required: the store keeps keys per workspace and has no listing across workspaces.
    .requiredOption('--workspace <name>', 'the workspace whose keys to list')
    .option('--data-dir <dir>', dataDirHelp)
    .action(async (opts: DataOptions & { workspace: string }) => {
      const rows = await withKeys<KeyRow[]>(
        opts,
        admin => admin.listKeys(opts.workspace),
        async store => {
          const workspace = await existingWorkspace(store, opts.workspace);
          return store.listApiKeys(workspace.id);
        }
      );
      if (rows.length === 0) {
        process.stderr.write(`No API keys in workspace ${opts.workspace}.\n`);
        return;
      }
      process.stdout.write(
        formatTable(
          ['ID', 'PREFIX', 'NAME', 'CREATED', 'LAST USED', 'REVOKED'],
          rows.map(key => [
            key.id,
            `${key.prefix}…`,
            key.name,
            formatTime(key.createdAt),
            formatTime(key.lastUsedAt),
            formatTime(key.revokedAt)
          ])
        ) + '\n'
      );
    });

  keys
    .command('revoke')
    .description('Revoke an API key: requests with it are refused from then on')
    .argument('<keyId>', 'the key id (from "cellflow keys list")')
    // Required: the store revokes within a workspace; it has no lookup of a key by id alone.
    .requiredOption('--workspace <name>', "the key's workspace")
    .option('--data-dir <dir>', dataDirHelp)
    .action(
      async (keyId: string, opts: DataOptions & { workspace: string }) => {
        const revoked = await withKeys<boolean>(
          opts,
          admin => admin.revokeKey(opts.workspace, keyId),
          async store => {
            const workspace = await existingWorkspace(store, opts.workspace);
            return store.revokeApiKey(workspace.id, keyId);
          }
        );
        if (!revoked) {
          throw new CliError(
            `no active API key with id ${keyId} in workspace ${opts.workspace} (unknown or already revoked)`
          );
        }
        process.stderr.write(`Revoked API key ${keyId}.\n`);
      }
    );
}

/**
 * Runs `viaAdmin` against a server listening on the data directory's admin socket, or, when none
 * answers, `viaStore` on the store opened here (closed afterwards), given the resolved data directory.
 */
export async function withKeys<T>(
  opts: DataOptions,
  viaAdmin: (admin: AdminClient) => Promise<T>,
  viaStore: (store: Store, dataDir: string) => Promise<T>
): Promise<T> {
  const dataDir = resolve(opts.dataDir ?? defaultDataDir());
  try {
    return await viaAdmin(new AdminClient(adminSocketPath(dataDir)));
  } catch (error) {
    if (!(error instanceof AdminUnavailableError)) {
      throw error;
    }
  }
  // With the embedded store, hold the data directory's lock while it is open here: a server that is
  // starting (its socket not up yet) must not open the same PGlite files at the same time.
  const embedded = !process.env.DATABASE_URL;
  let lock: DataDirLock | null = null;
  if (embedded) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    try {
      lock = lockDataDir(dataDir);
    } catch (error) {
      throw new CliError(
        `${(error as Error).message}; its admin socket did not answer (is it still starting?)`
      );
    }
  }
  try {
    let store: Store;
    try {
      store = await openStore({ dataDir });
    } catch (error) {
      throw new CliError(
        `cannot open the store ${embedded ? `in ${dataDir}` : '(DATABASE_URL)'}: ${(error as Error).message}`
      );
    }
    try {
      return await viaStore(store, dataDir);
    } finally {
      await store.close();
    }
  } finally {
    lock?.release();
  }
}

/** The workspace of that name; a CliError when there is none (listing or revoking creates nothing). */
async function existingWorkspace(
  store: Store,
  name: string
): Promise<{ id: string }> {
  const workspace = await store.findWorkspaceByName(name);
  if (!workspace) {
    throw new CliError(`no workspace named ${name}`);
  }
  return workspace;
}
