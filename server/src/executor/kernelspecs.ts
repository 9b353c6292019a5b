/**
 * Which kernelspecs a server can start, found as Jupyter finds them: `kernels/<name>/kernel.json` in
 * the Jupyter data path (JUPYTER_PATH, the user's data dir, the kernel Python's prefix, the system
 * folders). `python3` is always there: it is ipykernel's native kernel, the one the server starts.
 */
import { readdir, stat } from 'node:fs/promises';
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
