/**
 * The flow compiler: nbformat 4 JSON in, a FlowSpec (or every problem at once) out. Pure and
 * deterministic: the extension, the server and the CLI all compile a notebook the same way.
 */
import { specHash } from './hash.js';
import {
  DEFAULT_TASK_SETTINGS,
  effectiveTaskSettings,
  stripMagicLine,
  type EffectiveTask
} from './magic.js';
import { resolveParameters } from './parameters.js';
import {
  FLOW_SPEC_VERSION,
  type CompileResult,
  type FlowProblem,
  type FlowSpec,
  type SetupCell,
  type TaskSpec
} from './spec.js';
import { DEFAULT_FLOW_NAME, flowNameOfPath } from './flow-name.js';
import { cellLabel } from './validate.js';
import { orderTasks } from './validate-graph.js';
import { readNotebook, type NotebookCell } from './validate-notebook.js';

export interface CompileOptions {
  /** The flow's name; else the notebook's `metadata.cellflow.name`; else one from `path`; else "flow". */
  name?: string;
  /** The notebook's path or file name, for the name when neither `name` nor the metadata gives one. */
  path?: string;
}

/** The papermill convention: the cell tagged `parameters` holds the defaults. */
export const PARAMETERS_TAG = 'parameters';

/** The one task of a notebook without `%%task` cells: the whole notebook, as papermill runs it. */
export const WHOLE_NOTEBOOK_TASK = 'notebook';

export const WHOLE_NOTEBOOK_MESSAGE =
  'no %%task cells: the notebook runs as one task';

interface TaskCell {
  cell: NotebookCell;
  task: EffectiveTask;
  setup: SetupCell[];
}

/** Compiles a notebook. Never throws: whatever is wrong comes back in `problems`, each naming its cell. */
export function compileNotebook(
  notebook: unknown,
  options: CompileOptions = {}
): CompileResult {
  try {
    return compile(notebook, options);
  } catch (error) {
    // A bug here must still reach the user as data, not as a crash of the panel or the server.
    const detail = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      problems: [
        {
          code: 'internal-error',
          message: `Cellflow could not compile this notebook: ${detail}`
        }
      ],
      warnings: []
    };
  }
}

function compile(notebook: unknown, options: CompileOptions): CompileResult {
  const read = readNotebook(notebook);
  const problems: FlowProblem[] = [...read.problems];
  const warnings: FlowProblem[] = [];
  if (problems.some(p => p.code === 'not-a-notebook')) {
    return { ok: false, problems, warnings };
  }
  const cellflow = isRecord(read.metadata.cellflow)
    ? read.metadata.cellflow
    : {};
  const name = flowName(options, cellflow, problems);
  const language = notebookLanguage(read.metadata);
  if (language !== null && language !== 'python') {
    problems.push({
      code: 'unsupported-language',
      message: `The notebook is written in ${language}: Cellflow runs Python notebooks (the %%task magic and the injection of parameters are Python)`
    });
  }

  // Walk the cells once, in notebook order: tasks, the parameters cell, and the plain code between.
  const tasks: TaskCell[] = [];
  const skippedTasks = new Map<string, NotebookCell>();
  let parametersCell: NotebookCell | null = null;
  let pending: SetupCell[] = [];
  for (const cell of read.cells) {
    if (cell.type !== 'code') {
      continue;
    }
    const task = effectiveTaskSettings(cell);
    if (task.skip) {
      if (task.isTask && task.name) {
        skippedTasks.set(task.name, cell);
      }
      continue;
    }
    const label = cellLabel(cell.index, task.name);
    for (const p of task.problems) {
      problems.push(at(cell, task.name, p.code, `${label}: ${p.message}`));
    }
    for (const w of task.warnings) {
      warnings.push(at(cell, task.name, w.code, `${label}: ${w.message}`));
    }
    if (cell.tags.includes(PARAMETERS_TAG)) {
      if (task.isTask) {
        problems.push(
          at(
            cell,
            task.name,
            'parameters-cell-is-task',
            `${label} is tagged "parameters" and is also a task: a cell is one or the other`
          )
        );
      } else if (parametersCell) {
        problems.push(
          at(
            cell,
            null,
            'duplicate-parameters-cell',
            `${label} is tagged "parameters", but cell ${parametersCell.index + 1} already is: a notebook has one parameters cell`
          )
        );
      } else {
        parametersCell = cell;
      }
      continue;
    }
    if (task.isTask) {
      tasks.push({ cell, task, setup: pending });
      pending = [];
    } else if (cell.source.trim() !== '') {
      pending.push(setupCell(cell, cell.source));
    }
  }
  let teardown = pending;

  const parameters = resolveParameters(
    parametersCell?.source ?? null,
    cellflow.parameters
  );
  for (const [list, target] of [
    [parameters.problems, problems],
    [parameters.warnings, warnings]
  ] as const) {
    for (const p of list) {
      if (p.inCell && parametersCell) {
        const message = `${cellLabel(parametersCell.index)} (parameters), ${p.message}`;
        target.push(at(parametersCell, null, p.code, message));
      } else {
        target.push({
          code: p.code,
          message: `Notebook metadata: ${p.message}`
        });
      }
    }
  }

  let specs: TaskSpec[];
  if (tasks.length > 0) {
    specs = buildTaskSpecs(tasks, skippedTasks, problems);
  } else if (pending.length > 0) {
    // No task cells: the notebook is a flow of one task, its code cells in order (the parameters
    // cell still runs first, as in any flow). Retries re-run it all.
    warnings.push({ code: 'whole-notebook', message: WHOLE_NOTEBOOK_MESSAGE });
    const [first] = pending;
    specs = [
      {
        name: WHOLE_NOTEBOOK_TASK,
        cellId: first.cellId,
        cellIndex: first.cellIndex,
        code: first.code,
        ...(first.raisesException ? { raisesException: true } : {}),
        setup: [],
        upstream: [],
        ...DEFAULT_TASK_SETTINGS,
        cells: pending
      }
    ];
    teardown = [];
  } else {
    specs = [];
    problems.push({
      code: 'no-tasks',
      message:
        'The notebook has no code to run: add a code cell (a line such as "%%task extract" at its top makes it a task of its own)'
    });
  }
  if (problems.length > 0) {
    return {
      ok: false,
      problems: inNotebookOrder(problems),
      warnings: inNotebookOrder(warnings)
    };
  }
  const withoutHash: Omit<FlowSpec, 'hash'> = {
    version: FLOW_SPEC_VERSION,
    name,
    parameters: parameters.parameters,
    parametersCell: parametersCell
      ? setupCell(parametersCell, parametersCell.source)
      : null,
    tasks: specs,
    teardown
  };
  return {
    ok: true,
    spec: { ...withoutHash, hash: specHash(withoutHash) },
    warnings: inNotebookOrder(warnings)
  };
}

/** Names, dependencies and run order of the tasks; pushes what is wrong with them onto `problems`. */
function buildTaskSpecs(
  tasks: TaskCell[],
  skippedTasks: Map<string, NotebookCell>,
  problems: FlowProblem[]
): TaskSpec[] {
  // Duplicate names: one problem on every cell that shares the name, each naming the others.
  const cellsByName = new Map<string, TaskCell[]>();
  for (const t of tasks) {
    if (t.task.name) {
      cellsByName.set(t.task.name, [
        ...(cellsByName.get(t.task.name) ?? []),
        t
      ]);
    }
  }
  for (const [name, group] of cellsByName) {
    if (group.length < 2) {
      continue;
    }
    for (const t of group) {
      const others = group.filter(o => o !== t).map(o => o.cell.index + 1);
      const message = `${cellLabel(t.cell.index, name)}: the task name "${name}" is also used by ${plural('cell', others)}; task names must be unique`;
      problems.push(at(t.cell, name, 'duplicate-task-name', message));
    }
  }

  // The graph: the first cell of each name; default dependency is the previous task in the notebook.
  const nodes: { t: TaskCell; name: string; upstream: string[] }[] = [];
  let previous: string | null = null;
  for (const t of tasks) {
    const name = t.task.name;
    if (!name) {
      continue;
    }
    const declared = t.task.after ?? (previous ? [previous] : []);
    previous = name;
    if (cellsByName.get(name)![0] !== t) {
      continue;
    }
    const upstream: string[] = [];
    for (const up of declared) {
      if (cellsByName.has(up)) {
        upstream.push(up);
        continue;
      }
      const skipped = skippedTasks.get(up);
      const why = skipped
        ? `is skipped (cell ${skipped.index + 1} has metadata.cellflow.skip set), so it never runs`
        : 'is not a task in this notebook';
      problems.push(
        at(
          t.cell,
          name,
          'unknown-dependency',
          `${cellLabel(t.cell.index, name)}: it runs after "${up}", which ${why}`
        )
      );
    }
    nodes.push({ t, name, upstream });
  }

  const { order, cycles } = orderTasks(nodes);
  for (const cycle of cycles) {
    const first = nodes.find(n => n.name === cycle[0])!;
    const message = `${cellLabel(first.t.cell.index, first.name)}: cyclic dependency ${cycle.join(' → ')}: each of these tasks waits for the one before it, so none can start`;
    problems.push(at(first.t.cell, first.name, 'cyclic-dependency', message));
  }

  return order.map(i => {
    const { t, name, upstream } = nodes[i];
    const code = t.task.fromMagic
      ? stripMagicLine(t.cell.source)
      : t.cell.source;
    return {
      name,
      cellId: t.cell.id,
      cellIndex: t.cell.index,
      code,
      setup: t.setup,
      upstream,
      ...t.task.settings,
      ...(t.task.map ? { map: { ...t.task.map } } : {}),
      ...raisesException(t.cell)
    };
  });
}

function flowName(
  options: CompileOptions,
  cellflow: Record<string, unknown>,
  problems: FlowProblem[]
): string {
  if (typeof options.name === 'string' && options.name.trim() !== '') {
    return options.name.trim();
  }
  const fromMetadata = cellflow.name;
  const fallback =
    options.path === undefined
      ? DEFAULT_FLOW_NAME
      : flowNameOfPath(options.path);
  if (fromMetadata === undefined || fromMetadata === null) {
    return fallback;
  }
  if (typeof fromMetadata === 'string' && fromMetadata.trim() !== '') {
    return fromMetadata.trim();
  }
  problems.push({
    code: 'invalid-flow-name',
    message: `Notebook metadata: metadata.cellflow.name must be a non-empty string, got ${JSON.stringify(fromMetadata)}`
  });
  return fallback;
}

/** Notebook-wide problems first, then by cell, keeping the order found within a cell (a stable sort). */
function inNotebookOrder(problems: FlowProblem[]): FlowProblem[] {
  return [...problems].sort(
    (a, b) => (a.cellIndex ?? -1) - (b.cellIndex ?? -1)
  );
}

function setupCell(cell: NotebookCell, code: string): SetupCell {
  return {
    cellId: cell.id,
    cellIndex: cell.index,
    code,
    ...raisesException(cell)
  };
}

/** nbclient's and papermill's `raises-exception` tag: the cell's error is expected, the run goes on. */
export const RAISES_EXCEPTION_TAG = 'raises-exception';

function raisesException(cell: NotebookCell): { raisesException?: true } {
  return cell.tags.includes(RAISES_EXCEPTION_TAG)
    ? { raisesException: true }
    : {};
}

function at(
  cell: NotebookCell,
  taskName: string | null,
  code: string,
  message: string
): FlowProblem {
  return {
    code,
    message,
    cellIndex: cell.index,
    cellId: cell.id,
    ...(taskName ? { taskName } : {})
  };
}

function plural(word: string, numbers: number[]): string {
  if (numbers.length === 1) {
    return `${word} ${numbers[0]}`;
  }
  return `${word}s ${numbers.slice(0, -1).join(', ')} and ${numbers[numbers.length - 1]}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The notebook's language as its metadata says it (kernelspec.language, else language_info.name),
 * lower case; null when it says nothing (then it is taken for Python, as a new notebook is).
 */
function notebookLanguage(metadata: Record<string, unknown>): string | null {
  const kernelspec = isRecord(metadata.kernelspec) ? metadata.kernelspec : {};
  const info = isRecord(metadata.language_info) ? metadata.language_info : {};
  const language =
    typeof kernelspec.language === 'string' && kernelspec.language.trim()
      ? kernelspec.language
      : typeof info.name === 'string' && info.name.trim()
        ? info.name
        : null;
  return language === null ? null : language.trim().toLowerCase();
}
