/**
 * The flow spec: what the compiler makes of a notebook, and what the run loop, the server and the CLI
 * consume. Plain JSON-serialisable data, versioned so a stored spec can be read by a later Cellflow.
 */

/** Bumped whenever the shape below changes in a way an older reader would misread. */
export const FLOW_SPEC_VERSION = 1;

/** Parameter types a user can declare; inferred from the literal when not declared. */
export type ParameterType =
  'string' | 'integer' | 'number' | 'boolean' | 'json';

export interface ParameterSpec {
  /** A Python identifier. */
  name: string;
  type: ParameterType;
  /** The default as JSON (from the `parameters` cell's literal, or notebook metadata). */
  default: unknown;
  /** A required parameter must be given a value at run time when its default is null. */
  required: boolean;
  description?: string;
}

/** Where a task's settings came from; used by the UI to explain and by nothing else. */
export interface TaskSettings {
  /** How many times a failed attempt is retried (0 = no retry). */
  retries: number;
  /** Seconds to wait before the first retry. */
  retryDelay: number;
  /** Multiplier applied to the delay for each further retry (1 = constant delay). */
  backoff: number;
  /** Seconds an attempt may run before the kernel is interrupted; null = no limit. */
  timeout: number | null;
  /**
   * Seconds a completed attempt's result may be reused by later runs with the same cache key
   * (`--cache-for`); absent = not cached. See task-cache.ts.
   */
  cacheFor?: number;
  /** A Python expression evaluated in the kernel whose value joins the cache key (`--cache-key`). */
  cacheKey?: string;
}

/**
 * `%%task fetch --map url=urls`: the task's body runs once per element of `urls`, with `url` bound to
 * the element; each element is a task run of its own, `fetch[0]`, `fetch[1]`, ... (mapping.ts).
 */
export interface MapSpec {
  /** The name each element is bound to (a Python identifier). */
  name: string;
  /** The variable holding the iterable: a parameter or a variable an upstream task set. */
  over: string;
}

export interface TaskSpec extends TaskSettings {
  /** Run once per element of an iterable (absent for a task that runs once). */
  map?: MapSpec;
  /** The task cell is tagged `raises-exception` (see SetupCell). */
  raisesException?: true;
  /** A Python identifier, unique in the flow. */
  name: string;
  /** The nbformat cell id of the task cell, and its index in the notebook. */
  cellId: string;
  cellIndex: number;
  /** The cell's code without its `%%task` line. */
  code: string;
  /**
   * Code of the untagged code cells between the previous task (or the notebook start) and this task,
   * in notebook order: run once, before the task's first attempt, never retried on their own.
   */
  setup: SetupCell[];
  /** Names of the tasks that must complete before this one starts. */
  upstream: string[];
  /**
   * A task of several cells: a notebook without `%%task` cells runs as one task of all its code
   * cells (WHOLE_NOTEBOOK_TASK). Each attempt runs them all, in order, each keeping its own outputs;
   * `cellId`, `cellIndex` and `code` are the first's. Absent for a task of one cell.
   */
  cells?: SetupCell[];
}

export interface SetupCell {
  cellId: string;
  cellIndex: number;
  code: string;
  /**
   * The cell is tagged `raises-exception` (nbclient's and papermill's convention): an error it raises
   * is shown in its outputs and the run goes on as if it had ended ok.
   */
  raisesException?: true;
}

export interface FlowSpec {
  version: typeof FLOW_SPEC_VERSION;
  name: string;
  parameters: ParameterSpec[];
  /**
   * The `parameters` cell itself (its defaults run first, then the injected values), or null when the
   * notebook has none.
   */
  parametersCell: SetupCell | null;
  /** Tasks in a valid run order (dependencies before dependants; notebook order among equals). */
  tasks: TaskSpec[];
  /** Code cells after the last task that are not tasks: run after all tasks completed. */
  teardown: SetupCell[];
  /** Hex SHA-256 of the spec without this field: equal notebooks give equal hashes. */
  hash: string;
}

/** A problem found in a notebook, naming the cell at fault when there is one. */
export interface FlowProblem {
  /** Stable machine-readable code, e.g. `duplicate-task-name`. */
  code: string;
  message: string;
  cellIndex?: number;
  cellId?: string;
  taskName?: string;
}

/** The compiler's answer: a spec, or every problem found (errors are data, not exceptions). */
export type CompileResult =
  | { ok: true; spec: FlowSpec; warnings: FlowProblem[] }
  | { ok: false; problems: FlowProblem[]; warnings: FlowProblem[] };
