/**
 * Where the client commands find their server and key: CELLFLOW_API_URL / CELLFLOW_API_KEY first (so CI
 * and scripts need no file), else the profile `cellflow login` wrote. The profile holds a secret, so it
 * is written owner-only (file 0600 in a 0700 folder), atomically.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { CliError, normaliseServerUrl, type Connection } from './client.js';

export interface Profile {
  url: string;
  key: string;
}

const LOGIN_HINT =
  'log in with "cellflow login URL" (it asks for the key), or set CELLFLOW_API_URL and CELLFLOW_API_KEY';

/** CELLFLOW_CONFIG_DIR, else $XDG_CONFIG_HOME/cellflow, else ~/.config/cellflow. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CELLFLOW_CONFIG_DIR) {
    return env.CELLFLOW_CONFIG_DIR;
  }
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'cellflow');
}

export function profilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'profile.json');
}

/** The saved profile, or null when there is none; a damaged file is an error naming it. */
export async function readProfile(
  env: NodeJS.ProcessEnv = process.env
): Promise<Profile | null> {
  const path = profilePath(env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return null;
    }
    throw new CliError(
      `cannot read the profile ${path}: ${(error as Error).message}`
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(
      `the profile ${path} is not valid JSON; ${LOGIN_HINT} to rewrite it`
    );
  }
  const profile = parsed as Partial<Profile> | null;
  if (
    !profile ||
    typeof profile.url !== 'string' ||
    typeof profile.key !== 'string'
  ) {
    throw new CliError(
      `the profile ${path} lacks "url" or "key"; ${LOGIN_HINT} to rewrite it`
    );
  }
  return { url: profile.url, key: profile.key };
}

/** Writes the profile owner-only and returns its path. */
export async function writeProfile(
  profile: Profile,
  env: NodeJS.ProcessEnv = process.env
): Promise<string> {
  const dir = configDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir leaves an existing folder's mode alone; the key must not be readable by others either way.
  await chmod(dir, 0o700);
  const path = profilePath(env);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(profile, null, 2) + '\n', {
    mode: 0o600,
    flag: 'w'
  });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
  return path;
}

/** The server and key to use, each from its environment variable first, else from the profile. */
export async function resolveConnection(
  env: NodeJS.ProcessEnv = process.env
): Promise<Connection> {
  const envUrl = env.CELLFLOW_API_URL || undefined;
  const envKey = env.CELLFLOW_API_KEY || undefined;
  const profile = envUrl && envKey ? null : await readProfile(env);
  const url = envUrl ?? profile?.url;
  const key = envKey ?? profile?.key;
  if (!url && !key) {
    throw new CliError(`not logged in to a Cellflow server: ${LOGIN_HINT}`);
  }
  if (!url) {
    throw new CliError(
      `no server URL: CELLFLOW_API_KEY is set but not CELLFLOW_API_URL; ${LOGIN_HINT}`
    );
  }
  if (!key) {
    throw new CliError(
      `no API key: CELLFLOW_API_URL is set but not CELLFLOW_API_KEY; ${LOGIN_HINT}`
    );
  }
  return { url: normaliseServerUrl(url), key };
}
