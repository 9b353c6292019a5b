/**
 * Which kernelspecs a server can start, found as Jupyter finds them: `kernels/<name>/kernel.json` in
 * the Jupyter data path (JUPYTER_PATH, the user's data dir, the kernel Python's prefix, the system
 * folders). `python3` is always there: it is ipykernel's native kernel, the one the server starts.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';

export const NATIVE_KERNEL_NAME = 'python3';

/** The folders searched, in Jupyter's order (jupyter_core.paths.jupyter_path). */
export function kernelspecDirs(
  python: string,
  env: NodeJS.ProcessEnv = process.env
): string[] {
  const dirs: string[] = [];
  for (const entry of (env.JUPYTER_PATH ?? '').split(delimiter)) {
    if (entry) {
      dirs.push(join(entry, 'kernels'));
    }
  }
  dirs.push(
    join(
      env.JUPYTER_DATA_DIR ?? join(homedir(), '.local', 'share', 'jupyter'),
      'kernels'
    ),
    // The kernel Python's environment (a venv's bin/python: its prefix is one folder up).
    join(resolve(dirname(python), '..'), 'share', 'jupyter', 'kernels'),
    '/usr/local/share/jupyter/kernels',
    '/usr/share/jupyter/kernels'
  );
  return [...new Set(dirs)];
}

/** The names of the installed kernelspecs, sorted; always includes python3. */
export async function installedKernelspecs(
  python: string,
  env: NodeJS.ProcessEnv = process.env
): Promise<string[]> {
  const names = new Set<string>([NATIVE_KERNEL_NAME]);
  for (const dir of kernelspecDirs(python, env)) {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      continue; // a folder that is not there is the usual case
    }
    for (const name of entries) {
      try {
        if ((await stat(join(dir, name, 'kernel.json'))).isFile()) {
          names.add(name.toLowerCase());
        }
      } catch {
        // not a kernelspec folder
      }
    }
  }
  return [...names].sort();
}

/** A kernelspec found on disk: the command that starts it and the variables it adds. */
export interface Kernelspec {
  name: string;
  /** argv with `{connection_file}` (and `{resource_dir}`) still to fill in, as jupyter_client does. */
  argv: string[];
  env: Record<string, string>;
  language: string;
  /** Its folder (kernel.json, logos). */
  dir: string;
}

/** Thrown for a kernelspec name this server does not have: the message names it and those it has. */
export class KernelspecNotInstalledError extends Error {
  constructor(name: string, installed: string[], where = 'this server') {
    super(
      `kernel '${name}' is not installed on ${where} (it has: ${installed.join(', ')})`
    );
    this.name = 'KernelspecNotInstalledError';
  }
}

/**
 * The kernelspec a flow names: null for python3 (the server's own Python with ipykernel, whatever a
 * kernel.json of that name says), else the first `kernels/<name>/kernel.json` in Jupyter's order.
 * Throws KernelspecNotInstalledError when there is none, or when its kernel.json cannot be used.
 */
export async function findKernelspec(
  name: string,
  python: string,
  env: NodeJS.ProcessEnv = process.env,
  /** How this process is named in the error (default "this server"). */
  where?: string
): Promise<Kernelspec | null> {
  const wanted = name.toLowerCase();
  if (wanted === NATIVE_KERNEL_NAME) {
    return null;
  }
  for (const dir of kernelspecDirs(python, env)) {
    const folder = join(dir, wanted);
    let text: string;
    try {
      text = await readFile(join(folder, 'kernel.json'), 'utf8');
    } catch {
      continue;
    }
    let spec: { argv?: unknown; env?: unknown; language?: unknown };
    try {
      spec = JSON.parse(text);
    } catch (error) {
      throw new Error(
        `kernel '${name}': ${join(folder, 'kernel.json')} is not JSON (${(error as Error).message})`
      );
    }
    const argv = spec.argv;
    if (
      !Array.isArray(argv) ||
      argv.length === 0 ||
      !argv.every(a => typeof a === 'string')
    ) {
      throw new Error(
        `kernel '${name}': ${join(folder, 'kernel.json')} has no argv list of strings`
      );
    }
    const kernelEnv: Record<string, string> = {};
    if (typeof spec.env === 'object' && spec.env !== null) {
      for (const [key, value] of Object.entries(spec.env)) {
        if (typeof value === 'string') {
          kernelEnv[key] = value;
        }
      }
    }
    return {
      name: wanted,
      argv: argv as string[],
      env: kernelEnv,
      language: typeof spec.language === 'string' ? spec.language : '',
      dir: folder
    };
  }
  throw new KernelspecNotInstalledError(
    name,
    await installedKernelspecs(python, env),
    where
  );
}
