import { ICellModel } from '@jupyterlab/cells';

import {
  effectiveTaskSettings,
  firstLine,
  formatTaskMagic,
  isTaskMagicLine,
  readCellflowMetadata,
  stripMagicLine
} from '../flow/magic.js';
import { isPythonIdentifier } from '../flow/validate.js';

/**
 * Edits of one cell's task settings, shared by the commands and (later) the side panel. Each keeps
 * the `%%task` line and `metadata.cellflow` in step: the line, when present, is rewritten too.
 */

/** The task name a cell suggests: its first `def name`/`name =`, else `task_N`. */
export function suggestTaskName(source: string, taken: Set<string>): string {
  const match = /^\s*(?:def\s+([A-Za-z_]\w*)|([A-Za-z_]\w*)\s*=)/m.exec(
    stripMagicLine(source)
  );
  const base = match?.[1] ?? match?.[2];
  if (base && isPythonIdentifier(base) && !taken.has(base)) {
    return base;
  }
  for (let n = taken.size + 1; ; n++) {
    if (!taken.has(`task_${n}`)) {
      return `task_${n}`;
    }
  }
}

export function isTaskCell(cell: ICellModel): boolean {
  return (
    cell.type === 'code' &&
    effectiveTaskSettings({
      source: cell.sharedModel.getSource(),
      metadata: { cellflow: cell.getMetadata('cellflow') }
    }).isTask
  );
}

/** Mark a code cell as the task `name` (in metadata; an existing `%%task` line is renamed). */
export function makeTask(cell: ICellModel, name: string): void {
  const existing = cellflowOf(cell);
  const task = { ...(asRecord(existing.task) ?? {}), name };
  cell.setMetadata('cellflow', { ...existing, task, skip: undefined });
  cleanUndefined(cell);
  renameMagicLine(cell, name);
}

/** The cell stops being a task: its `%%task` line and task metadata go, its code stays. */
export function unmakeTask(cell: ICellModel): void {
  const source = cell.sharedModel.getSource();
  if (isTaskMagicLine(firstLine(source))) {
    cell.sharedModel.setSource(stripMagicLine(source));
  }
  const { task: _task, ...rest } = cellflowOf(cell);
  if (Object.keys(rest).length) {
    cell.setMetadata('cellflow', rest);
  } else {
    cell.deleteMetadata('cellflow');
  }
}

/** Rename a task cell, in its metadata and in its `%%task` line. */
export function renameTask(cell: ICellModel, name: string): void {
  makeTask(cell, name);
}

/** Toggle "skip": a skipped cell never runs in a flow (it still runs by hand). */
export function toggleSkip(cell: ICellModel): boolean {
  const existing = cellflowOf(cell);
  const skip = !readCellflowMetadata({ cellflow: existing }).skip;
  const { skip: _skip, ...rest } = existing;
  const next = skip ? { ...rest, skip: true } : rest;
  if (Object.keys(next).length) {
    cell.setMetadata('cellflow', next);
  } else {
    cell.deleteMetadata('cellflow');
  }
  return skip;
}

export function isSkipped(cell: ICellModel): boolean {
  return readCellflowMetadata({ cellflow: cell.getMetadata('cellflow') }).skip;
}

function renameMagicLine(cell: ICellModel, name: string): void {
  const source = cell.sharedModel.getSource();
  const line = firstLine(source);
  if (!isTaskMagicLine(line)) {
    return;
  }
  const task = effectiveTaskSettings({ source, metadata: {} });
  const renamed = formatTaskMagic(
    name,
    { ...task.settings, after: task.after },
    line
  );
  cell.sharedModel.setSource(renamed + source.slice(line.length));
}

function cellflowOf(cell: ICellModel): Record<string, unknown> {
  return asRecord(cell.getMetadata('cellflow')) ?? {};
}

function cleanUndefined(cell: ICellModel): void {
  const meta = cellflowOf(cell);
  const clean = Object.fromEntries(
    Object.entries(meta).filter(([, v]) => v !== undefined)
  );
  cell.setMetadata('cellflow', clean);
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}
