/**
 * The kernel's working folder: the notebook's own folder when the flow was deployed from a notebook
 * under the server's root dir (so relative paths in the notebook mean what they meant in the lab),
 * else a folder per flow in the data dir.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';

/** The notebook's path relative to the root dir, as deploy records it in `metadata.cellflow.path`. */
export function notebookPath(notebook: unknown): string | null {
  if (typeof notebook !== 'object' || notebook === null) {
    return null;
  }
  const metadata = (notebook as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null) {
    return null;
  }
  const cellflow = (metadata as { cellflow?: unknown }).cellflow;
  if (typeof cellflow !== 'object' || cellflow === null) {
    return null;
  }
  const path = (cellflow as { path?: unknown }).path;
  return typeof path === 'string' && path !== '' ? path : null;
}

/** True when `child` is `root` or inside it. */
function inside(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

export async function kernelWorkdir(options: {
  rootDir?: string;
  dataDir: string;
  flowId: string;
  notebook: unknown;
}): Promise<string> {
  const path = notebookPath(options.notebook);
  if (options.rootDir && path !== null) {
    const root = resolve(options.rootDir);
    const folder = dirname(resolve(root, path));
    // A path that climbs out of the root dir is ignored, never followed.
    if (inside(root, folder)) {
      try {
        if ((await stat(folder)).isDirectory()) {
          return folder;
        }
      } catch {
        // Gone since deploy: fall back to the flow's own folder.
      }
    }
  }
  const folder = join(options.dataDir, 'flows', options.flowId);
  await mkdir(folder, { recursive: true });
  return folder;
}
