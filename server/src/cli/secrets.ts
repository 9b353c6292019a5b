/**
 * `cellflow secrets set|list|delete`: workspace secrets, given to the workspace's kernels as
 * environment variables. A value is read from stdin when it is piped, else asked for without echo; never
 * from the command line (shell history, `ps`), and never printed.
 *
 * Without --workspace the command works through the API, in the workspace of the login profile's key.
 * With --workspace it works on the server's machine, as `cellflow keys` does: through the admin socket
 * of a server running on the data directory, else on the store opened here (with the secrets key).
 */
import { Command } from 'commander';

import { SecretKeyError } from '../secrets/secret-box.js';
import {
  checkSecretName,
  checkSecretValue,
  openWorkspaceSecrets,
  type WorkspaceSecrets
} from '../secrets/workspace-secrets.js';
import type { Store } from '../store/store.js';
import type { AdminClient } from './admin-client.js';
import { ApiClient, ApiError, CliError, usageErrorsExit2 } from './client.js';
import { withKeys } from './keys.js';
import { promptHidden, readStdin } from './login.js';
import { resolveConnection } from './profile.js';
import { formatTable, formatTime } from './table.js';

interface SecretsOptions {
  workspace?: string;
  dataDir?: string;
  secretsKeyFile?: string;
}

/** A secret as either path returns it (the admin socket and the API send strings, the store Dates). */
interface SecretRow {
  name: string;
  createdAt: string | Date;
  updatedAt: string | Date;
}

const dataDirHelp =
  'with --workspace: the server data directory (default: $CELLFLOW_DATA_DIR, else ~/.local/share/cellflow)';
const keyFileHelp =
  'with --workspace and no server running: the secrets key file (default: $CELLFLOW_SECRETS_KEY_FILE, else <data dir>/secrets.key; $CELLFLOW_SECRETS_KEY wins)';
const workspaceHelp =
  "the workspace, on the server's machine (default: the workspace of your login profile's key, through the API)";

function withOptions(command: Command): Command {
  return command
    .option('--workspace <name>', workspaceHelp)
    .option('--data-dir <dir>', dataDirHelp)
    .option('--secrets-key-file <file>', keyFileHelp);
}

export function registerSecretsCommand(program: Command): void {
  const secrets = usageErrorsExit2(
    program
      .command('secrets')
      .description(
        "Set, list and delete workspace secrets (environment variables of the workspace's kernels)"
      )
  );

  withOptions(
    secrets
      .command('set')
      .description(
        'Set a secret; the value is read from stdin when piped (one trailing newline dropped), else asked for without echo'
      )
      .argument('<name>', 'an environment variable name, e.g. API_TOKEN')
      .addHelpText(
        'after',
        '\nExamples:\n  cellflow secrets set API_TOKEN                        (asks for the value)\n  printf %s "$TOKEN" | cellflow secrets set API_TOKEN\n  cellflow secrets set API_TOKEN --workspace team < token.txt   (on the server machine)'
      )
  ).action(async (name: string, opts: SecretsOptions) => {
    requireName(name);
    const target = await targetOf(opts);
    const value = await readValue(name);
    const problem = checkSecretValue(value);
    if (problem) {
      usageError(`${problem}; nothing was set`);
    }
    await target.run<unknown>(
      client => client.setSecret(name, value),
      admin => admin.putSecret(target.workspace, name, value),
      (secrets, workspaceId) => secrets.set(workspaceId, name, value)
    );
    process.stdout.write(
      `Secret ${name} set for workspace ${target.workspace}\n`
    );
  });

  withOptions(
    secrets
      .command('list')
      .description(
        'List the secrets of the workspace: names and times, never values'
      )
  ).action(async (opts: SecretsOptions) => {
    const target = await targetOf(opts);
    const rows = await target.run<SecretRow[]>(
      client => client.listSecrets(),
      admin => admin.listSecrets(target.workspace),
      (secrets, workspaceId) => secrets.list(workspaceId)
    );
    if (rows.length === 0) {
      process.stderr.write(`No secrets in workspace ${target.workspace}.\n`);
      return;
    }
    process.stdout.write(
      formatTable(
        ['NAME', 'CREATED', 'UPDATED'],
        rows.map(s => [
          s.name,
          formatTime(s.createdAt),
          formatTime(s.updatedAt)
        ])
      ) + '\n'
    );
  });

  withOptions(
    secrets
      .command('delete')
      .description(
        'Delete a secret: kernels started afterwards no longer get it'
      )
      .argument('<name>', 'the secret name')
  ).action(async (name: string, opts: SecretsOptions) => {
    requireName(name);
    const target = await targetOf(opts);
    const deleted = await target.run(
      async client => {
        try {
          await client.deleteSecret(name);
          return true;
        } catch (error) {
          if (error instanceof ApiError && error.status === 404) {
            return false;
          }
          throw error;
        }
      },
      admin => admin.deleteSecret(target.workspace, name),
      (secrets, workspaceId) => secrets.delete(workspaceId, name)
    );
    if (!deleted) {
      throw new CliError(`no secret ${name} in workspace ${target.workspace}`);
    }
    process.stdout.write(
      `Secret ${name} deleted from workspace ${target.workspace}\n`
    );
  });
}

/** "You typed it wrong": exit 2, as for the other usage mistakes (the top level would exit 1). */
function usageError(message: string): never {
  process.stderr.write(`cellflow: ${message}\n`);
  process.exit(2);
}

function requireName(name: string): void {
  const problem = checkSecretName(name);
  if (problem) {
    usageError(problem);
  }
}

interface Target {
  /** The workspace's name, for messages. */
  workspace: string;
  run<T>(
    viaApi: (client: ApiClient) => Promise<T>,
    viaAdmin: (admin: AdminClient) => Promise<T>,
    viaStore: (secrets: WorkspaceSecrets, workspaceId: string) => Promise<T>
  ): Promise<T>;
}

/**
 * Where the command works: the API (no --workspace; the profile's key says the workspace), or the
 * server's machine for --workspace (admin socket, else the store and secrets key opened here).
 */
async function targetOf(opts: SecretsOptions): Promise<Target> {
  const workspace = opts.workspace;
  if (workspace === undefined) {
    if (opts.dataDir !== undefined || opts.secretsKeyFile !== undefined) {
      usageError(
        '--data-dir and --secrets-key-file go with --workspace (on the server machine); without it the command uses the API'
      );
    }
    const client = new ApiClient(await resolveConnection());
    // Checks the key before a value is asked for, and names the workspace in messages.
    const me = await client.me();
    return {
      workspace: me.workspace.name,
      run: viaApi => viaApi(client)
    };
  }
  if (workspace.trim() === '') {
    usageError('--workspace needs a workspace name');
  }
  return {
    workspace,
    run: (_viaApi, viaAdmin, viaStore) =>
      withKeys(opts, viaAdmin, async (store: Store, dataDir: string) => {
        const found = await store.findWorkspaceByName(workspace);
        if (!found) {
          throw new CliError(`no workspace named ${workspace}`);
        }
        let secrets: WorkspaceSecrets;
        try {
          secrets = await openWorkspaceSecrets({
            store,
            dataDir,
            env: process.env,
            keyFile: opts.secretsKeyFile
          });
        } catch (error) {
          if (error instanceof SecretKeyError) {
            throw new CliError(error.message);
          }
          throw error;
        }
        return viaStore(secrets, found.id);
      })
  };
}

/** The value: all of stdin when piped (without one trailing newline), else a prompt without echo. */
async function readValue(name: string): Promise<string> {
  if (process.stdin.isTTY) {
    const value = await promptHidden(`Value of ${name}: `);
    if (value === '') {
      throw new CliError('no value given; nothing was set');
    }
    return value;
  }
  const text = (await readStdin()).replace(/\r?\n$/, '');
  if (text === '') {
    throw new CliError(
      `no value on stdin; pipe it in (printf %s "$VALUE" | cellflow secrets set ${name}) or run in a terminal to be asked; nothing was set`
    );
  }
  return text;
}
