/**
 * A kernel's environment is its own: never the server's. Notebook code is arbitrary code for whoever
 * holds its workspace's key, so whatever the server was started with (DATABASE_URL and its password,
 * CELLFLOW_* settings, a cloud provider's credentials) must not be there to read. A kernel gets a small
 * allow-list (a PATH that finds its own Python first, the locale, the time zone), a HOME and TMPDIR of
 * its own, and what its workspace declares (its secrets), nothing else.
 */
import { dirname, isAbsolute } from 'node:path';

/** The system's programs, after the kernel's own Python's folder. */
export const SYSTEM_PATH =
  '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Taken from the server's environment when set: how text and times are shown, nothing more. */
const PASSED_THROUGH = ['LANG', 'LANGUAGE', 'TZ'];
const PASSED_THROUGH_PREFIX = 'LC_';

export interface KernelEnvironmentOptions {
  /** The kernel's Python: its folder comes first on PATH, so `!pip` and `!python` are the kernel's. */
  python: string;
  /** The kernel's own home and temp folders. */
  home: string;
  tmpdir: string;
  /** The workspace's variables and secrets (names checked where they are set). */
  workspace?: Record<string, string>;
  /** The server's environment, read for the locale only (default: process.env). */
  serverEnv?: NodeJS.ProcessEnv;
}

export function kernelEnvironment(
  options: KernelEnvironmentOptions
): Record<string, string> {
  const serverEnv = options.serverEnv ?? process.env;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(serverEnv)) {
    if (
      value !== undefined &&
      (PASSED_THROUGH.includes(name) || name.startsWith(PASSED_THROUGH_PREFIX))
    ) {
      env[name] = value;
    }
  }
  Object.assign(env, options.workspace ?? {});
  // Set last: a workspace variable cannot move the kernel's home or hide its Python.
  env.PATH = isAbsolute(options.python)
    ? `${dirname(options.python)}:${SYSTEM_PATH}`
    : SYSTEM_PATH;
  env.HOME = options.home;
  env.TMPDIR = options.tmpdir;
  return env;
}
