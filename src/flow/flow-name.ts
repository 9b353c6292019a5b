/**
 * The one rule that names a flow, for the lab's Deploy, `cellflow compile` and `cellflow deploy` alike,
 * so that one notebook deployed from the lab and from a terminal is one flow with versions, not three:
 * the name given, else the notebook's `metadata.cellflow.name`, else its file name as a slug
 * (`reports/ETL daily.ipynb` → `etl_daily`), else "flow".
 */

export const DEFAULT_FLOW_NAME = 'flow';

/** A flow name from a notebook's path: its file name without `.ipynb`, lower case, `[a-z0-9_-]` only. */
export function flowNameOfPath(path: string): string {
  const stem = (path.split(/[\\/]/).pop() ?? path).replace(/\.ipynb$/i, '');
  const name = stem
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return name || DEFAULT_FLOW_NAME;
}

/** `metadata.cellflow.name` when it is a usable name (a non-empty string), trimmed; else undefined. */
export function metadataFlowName(notebook: unknown): string | undefined {
  const name = (notebook as { metadata?: { cellflow?: { name?: unknown } } })
    ?.metadata?.cellflow?.name;
  return typeof name === 'string' && name.trim() ? name.trim() : undefined;
}

/** The name a notebook's flow gets when none is given: its metadata's, else its path's, else "flow". */
export function defaultFlowName(notebook: unknown, path?: string): string {
  return (
    metadataFlowName(notebook) ??
    (path === undefined ? DEFAULT_FLOW_NAME : flowNameOfPath(path))
  );
}
