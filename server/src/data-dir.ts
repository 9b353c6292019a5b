/**
 * Where the server keeps its embedded store, admin socket and kernel folders when no --data-dir is
 * given. The server and `cellflow keys` must agree on it, so both read it from here.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** CELLFLOW_DATA_DIR, else $XDG_DATA_HOME/cellflow, else ~/.local/share/cellflow. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CELLFLOW_DATA_DIR) {
    return env.CELLFLOW_DATA_DIR;
  }
  const base = env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'cellflow');
}
