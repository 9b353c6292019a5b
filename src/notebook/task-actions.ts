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
    { ...task.settings, after: task.after, map: task.map },
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

/** The settings the panel edits; a field left out is not changed. */
export interface ITaskSettingsEdit {
  retries?: number;
  retryDelay?: number;
  backoff?: number;
  timeout?: number | null;
  /** null: after the previous task in the notebook; []: depends on nothing. */
  after?: string[] | null;
}

/**
 * Change a task's settings from the panel: the cell's metadata, and its `%%task` line when it has
 * one (the line wins for the fields it names, so it must say the same).
 */
export function updateTaskSettings(
  cell: ICellModel,
  edit: ITaskSettingsEdit
): void {
  const source = cell.sharedModel.getSource();
  const current = effectiveTaskSettings({
    source,
    metadata: { cellflow: cell.getMetadata('cellflow') }
  });
  if (!current.isTask || !current.name) {
    return;
  }
  const settings = { ...current.settings };
  let after = current.after;
  for (const [field, value] of Object.entries(edit)) {
    if (value === undefined) {
      continue;
    }
    if (field === 'after') {
      after = value as string[] | null;
    } else {
      (settings as Record<string, unknown>)[field] = value;
    }
  }
  const existing = cellflowOf(cell);
  const task: Record<string, unknown> = { name: current.name };
  if (settings.retries !== 0) {
    task.retries = settings.retries;
  }
  if (settings.retryDelay !== 0) {
    task.retryDelay = settings.retryDelay;
  }
  if (settings.backoff !== 1) {
    task.backoff = settings.backoff;
  }
  if (settings.timeout !== null) {
    task.timeout = settings.timeout;
  }
  if (after !== null) {
    task.after = after;
  }
  if (current.map) {
    task.map = { ...current.map };
  }
  cell.setMetadata('cellflow', { ...existing, task });
  const line = firstLine(source);
  if (isTaskMagicLine(line)) {
    const rewritten = formatTaskMagic(
      current.name,
      { ...settings, after, map: current.map },
      line
    );
    cell.sharedModel.setSource(rewritten + source.slice(line.length));
  }
}
