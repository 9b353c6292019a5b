/**
 * How this server's local kernels are isolated, decided once at start:
 * - `sandbox`: bubblewrap (executor/sandbox.ts); the default wherever bwrap can make a sandbox;
 * - `none`: a plain child process with an environment of its own, an explicit choice that the server
 *   warns about, and refuses on a non-loopback address unless told `--allow-unisolated-kernels`.
 * Asked for `auto` (the default) on a machine without bubblewrap, the server runs unisolated and says why.
 */
import {
  defaultHiddenPaths,
  findBwrap,
  pythonPaths,
  type IsolationMode,
  type SandboxOptions
} from '../executor/sandbox.js';

export interface KernelIsolation {
  readonly mode: IsolationMode;
  /** Present when mode is 'sandbox'. */
  readonly sandbox?: SandboxOptions;
  /** Why the server runs unisolated, when it does: shown at start. */
  readonly warning?: string;
}

export interface ResolveIsolationOptions {
  /** 'auto' (default): the sandbox where available, else none with a warning. */
  mode?: IsolationMode | 'auto';
  python: string;
  dataDir: string;
  rootDir?: string;
  /** More files or folders kernels must not see (the secrets key file, ...). */
  hidden?: string[];
  env?: NodeJS.ProcessEnv;
}

export const UNISOLATED_WARNING =
  "kernels run without isolation (--isolation none): notebook code can read the data dir (the store, the admin socket), the login profile and the server's processes, so any workspace can take over the others";

export function resolveIsolation(
  options: ResolveIsolationOptions
): KernelIsolation {
  const mode = options.mode ?? 'auto';
  if (mode === 'none') {
    return { mode: 'none', warning: UNISOLATED_WARNING };
  }
  // Found on the PATH of the process itself: `env` is the configuration read (CELLFLOW_*), not where programs are.
  const found = findBwrap();
  if ('error' in found) {
    if (mode === 'sandbox') {
      throw new Error(`--isolation sandbox: ${found.error}`);
    }
    return {
      mode: 'none',
      warning: `${found.error}; ${UNISOLATED_WARNING}`
    };
  }
  let paths: string[] = [];
  try {
    paths = pythonPaths(options.python);
  } catch {
    // A Python that cannot answer cannot start a kernel either: the run says so when it tries.
  }
  const hidden = [
    ...defaultHiddenPaths(options.env),
    options.dataDir,
    ...(options.rootDir ? [options.rootDir] : []),
    ...(options.hidden ?? [])
  ];
  return {
    mode: 'sandbox',
    sandbox: { bwrap: found.bwrap, hidden, pythonPaths: paths }
  };
}
