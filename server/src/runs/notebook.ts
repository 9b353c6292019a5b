/**
 * The executed notebook of a run: the deployed notebook's cells with the outputs this run produced
 * (a task cell shows its last attempt), the way papermill leaves an executed copy.
 */
import type { RunResult } from '../../../src/flow/runner.js';
import { fallbackCellId } from '../../../src/flow/validate-notebook.js';
import type { FlowRun } from '../store/store.js';
import type { CellOutputs } from './recorder.js';

export interface ExecutedNotebookInput {
  notebook: unknown;
  run: FlowRun;
  parameters: Record<string, unknown>;
  result: RunResult | null;
  outputs: CellOutputs;
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
  const cells = Array.isArray(source.cells) ? source.cells : [];
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
    cell.outputs = input.outputs.get(id) ?? [];
    cell.execution_count = counts.get(id) ?? null;
  });
  const metadata = isRecord(source.metadata) ? source.metadata : {};
  const cellflow = isRecord(metadata.cellflow) ? metadata.cellflow : {};
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
