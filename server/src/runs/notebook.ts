/**
 * The executed notebook of a run: the deployed notebook's cells with the outputs this run produced
 * (a task cell shows its last attempt), the way papermill leaves an executed copy.
 */
import {
  INJECTED_PARAMETERS_TAG,
  injectedParametersSource
} from '../../../src/flow/injected-parameters.js';
import type { CellExecution, RunResult } from '../../../src/flow/runner.js';
import { fallbackCellId } from '../../../src/flow/validate-notebook.js';
import type { FlowRun } from '../store/store.js';
import type { CellOutputs } from './recorder.js';

export interface ExecutedNotebookInput {
  notebook: unknown;
  run: FlowRun;
  parameters: Record<string, unknown>;
  result: RunResult | null;
  outputs: CellOutputs;
  /** The kernel's kernel_info_reply `language_info`, as nbclient records it in the notebook. */
  languageInfo?: unknown;
  /** Widget state the run's kernel reported (nbclient's `metadata.widgets`), or null for none. */
  widgets?: Json | null;
}

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A deep copy with outputs filled in; never throws on an odd notebook (cells it cannot read stay as they are). */
export function buildExecutedNotebook(input: ExecutedNotebookInput): Json {
  const source: Json = isRecord(input.notebook)
    ? structuredClone(input.notebook)
    : { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [] };
  const counts = new Map<string, number | null>();
  for (const task of input.result?.tasks ?? []) {
    const last = task.attempts[task.attempts.length - 1];
    if (last) {
      counts.set(task.cellId, last.executionCount ?? null);
      // A task of several cells (a notebook without %%task cells): each cell's own.
      for (const [cellId, count] of Object.entries(
        last.executionCounts ?? {}
      )) {
        counts.set(cellId, count);
      }
    }
  }
  const executions = input.result?.cells ?? {};
  for (const [cellId, execution] of Object.entries(executions)) {
    counts.set(cellId, execution.executionCount);
  }
  const cells = Array.isArray(source.cells) ? source.cells : [];
  let parametersIndex = -1;
  cells.forEach((cell: unknown, index: number) => {
    if (!isRecord(cell) || cell.cell_type !== 'code') {
      return;
    }
    // The compiler's key for the cell: its nbformat id, or for a notebook older than nbformat 4.5
    // (no ids) the one readNotebook gave it from its index. The cell itself is left as it was.
    const id =
      typeof cell.id === 'string' && cell.id !== ''
        ? cell.id
        : fallbackCellId(index);
    if (parametersIndex < 0 && hasTag(cell, 'parameters')) {
      parametersIndex = index;
    }
    cell.outputs = input.outputs.get(id) ?? [];
    cell.execution_count = counts.get(id) ?? null;
    const execution = executions[id];
    if (execution) {
      setExecutionTimes(cell, execution);
    }
  });
  const injection = input.result?.injection;
  if (injection) {
    insertInjectedCell(source, cells, parametersIndex, injection);
  }
  const metadata = isRecord(source.metadata) ? source.metadata : {};
  if (isRecord(input.languageInfo)) {
    metadata.language_info = input.languageInfo;
  }
  // The source's widget models are stale: the run's own state, or none (as nbclient leaves it).
  if (input.widgets !== undefined) {
    if (input.widgets === null) {
      delete metadata.widgets;
    } else {
      metadata.widgets = input.widgets;
    }
  }
  const cellflow = isRecord(metadata.cellflow) ? { ...metadata.cellflow } : {};
  // `cellflow deploy` records where the notebook was on the deploying machine: not for readers.
  if (typeof cellflow.path === 'string' && cellflow.path.startsWith('/')) {
    delete cellflow.path;
  }
  const { run } = input;
  metadata.cellflow = {
    ...cellflow,
    run: {
      id: run.id,
      flowId: run.flowId,
      flowVersion: run.flowVersion,
      trigger: run.trigger,
      state: input.result?.state ?? null,
      parameters: input.parameters,
      startedAt: run.startedAt ? run.startedAt.toISOString() : null,
      endedAt: input.result
        ? new Date(input.result.endedAt).toISOString()
        : null
    }
  };
  source.metadata = metadata;
  return source;
}

function hasTag(cell: Json, tag: string): boolean {
  const metadata = isRecord(cell.metadata) ? cell.metadata : {};
  return Array.isArray(metadata.tags) && metadata.tags.includes(tag);
}

/** nbclient's per-cell timing (`record_timing`): the four message times of its execution. */
function setExecutionTimes(cell: Json, execution: CellExecution): void {
  const metadata = isRecord(cell.metadata) ? cell.metadata : {};
  const started = new Date(execution.startedAt).toISOString();
  const ended = new Date(execution.endedAt).toISOString();
  metadata.execution = {
    'iopub.execute_input': started,
    'iopub.status.busy': started,
    'iopub.status.idle': ended,
    'shell.execute_reply': ended
  };
  cell.metadata = metadata;
}

/**
 * papermill's injected-parameters cell: it replaces one the notebook already has, else comes right
 * after the parameters cell, else at the top. Its id (nbformat 4.5 and later) is unique in the notebook.
 */
function insertInjectedCell(
  notebook: Json,
  cells: unknown[],
  parametersIndex: number,
  injection: NonNullable<RunResult['injection']>
): void {
  const cell: Json = {
    cell_type: 'code',
    execution_count: injection.execution?.executionCount ?? null,
    metadata: { tags: [INJECTED_PARAMETERS_TAG] },
    outputs: [],
    source: injectedParametersSource(injection.values)
  };
  if (injection.execution) {
    setExecutionTimes(cell, injection.execution);
  }
  const minor =
    typeof notebook.nbformat_minor === 'number' ? notebook.nbformat_minor : 0;
  if (notebook.nbformat === 4 && minor >= 5) {
    const ids = new Set(cells.map(c => (isRecord(c) ? c.id : undefined)));
    let id = INJECTED_PARAMETERS_TAG;
    for (let n = 2; ids.has(id); n++) {
      id = `${INJECTED_PARAMETERS_TAG}-${n}`;
    }
    cell.id = id;
  }
  const existing = cells.findIndex(
    c => isRecord(c) && hasTag(c, INJECTED_PARAMETERS_TAG)
  );
  if (existing >= 0) {
    if (typeof (cells[existing] as Json).id === 'string') {
      cell.id = (cells[existing] as Json).id;
    }
    cells[existing] = cell;
  } else {
    cells.splice(parametersIndex + 1, 0, cell);
  }
  notebook.cells = cells;
}
