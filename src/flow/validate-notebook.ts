/**
 * Reads untrusted notebook JSON into the few cell fields the compiler needs, or says why it cannot.
 * Never throws: `null`, a string or a half-written file are answered with a problem.
 */
import type { FlowProblem } from './spec.js';
import { describeValue } from './validate.js';

export interface NotebookCell {
  index: number;
  /** The nbformat id, or `cell-<index>` for notebooks older than nbformat 4.5 (cells without ids). */
  id: string;
  type: 'code' | 'markdown' | 'raw' | 'other';
  source: string;
  metadata: Record<string, unknown>;
  tags: string[];
}

export interface NotebookRead {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  problems: FlowProblem[];
}

/** The id a cell without one gets: stable for a given position, so equal notebooks hash equally. */
export function fallbackCellId(index: number): string {
  return `cell-${index}`;
}

export function readNotebook(notebook: unknown): NotebookRead {
  const result: NotebookRead = { cells: [], metadata: {}, problems: [] };
  if (!isRecord(notebook)) {
    result.problems.push({
      code: 'not-a-notebook',
      message: `Not an nbformat 4 notebook: expected a JSON object, got ${kindOf(notebook)}`
    });
    return result;
  }
  if (notebook.nbformat !== 4) {
    result.problems.push({
      code: 'not-a-notebook',
      message:
        notebook.nbformat === undefined
          ? 'Not an nbformat 4 notebook: it has no "nbformat" field'
          : `Not an nbformat 4 notebook: "nbformat" is ${describeValue(notebook.nbformat)}; save it with Jupyter (nbformat 4) first`
    });
    return result;
  }
  if (!Array.isArray(notebook.cells)) {
    result.problems.push({
      code: 'not-a-notebook',
      message: `Not an nbformat 4 notebook: "cells" must be a list, got ${kindOf(notebook.cells)}`
    });
    return result;
  }
  result.metadata = isRecord(notebook.metadata) ? notebook.metadata : {};
  notebook.cells.forEach((raw: unknown, index: number) => {
    const where = `Cell ${index + 1}`;
    if (!isRecord(raw)) {
      result.problems.push({
        code: 'invalid-cell',
        message: `${where} is not a cell object (got ${kindOf(raw)})`,
        cellIndex: index,
        cellId: fallbackCellId(index)
      });
      return;
    }
    const id =
      typeof raw.id === 'string' && raw.id !== ''
        ? raw.id
        : fallbackCellId(index);
    const source = readSource(raw.source);
    if (source === null) {
      result.problems.push({
        code: 'invalid-cell',
        message: `${where}: "source" must be a string or a list of strings, got ${kindOf(raw.source)}`,
        cellIndex: index,
        cellId: id
      });
      return;
    }
    const metadata = isRecord(raw.metadata) ? raw.metadata : {};
    const tags = Array.isArray(metadata.tags)
      ? metadata.tags.filter((t): t is string => typeof t === 'string')
      : [];
    const type =
      raw.cell_type === 'code' ||
      raw.cell_type === 'markdown' ||
      raw.cell_type === 'raw'
        ? raw.cell_type
        : 'other';
    result.cells.push({ index, id, type, source, metadata, tags });
  });
  return result;
}

function readSource(source: unknown): string | null {
  if (typeof source === 'string') {
    return source;
  }
  if (source === undefined) {
    return '';
  }
  if (Array.isArray(source) && source.every(line => typeof line === 'string')) {
    return source.join('');
  }
  return null;
}

function kindOf(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'a list';
  }
  if (typeof value === 'string') {
    return value.length > 40
      ? 'a string'
      : `the string ${JSON.stringify(value)}`;
  }
  return typeof value === 'object'
    ? 'an object'
    : `${typeof value} ${String(value)}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
