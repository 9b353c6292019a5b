/**
 * Running a mapped task (`%%task fetch --map url=urls`): the body runs once per element of `urls`,
 * each element a task of its own in the run (`fetch[0]`, `fetch[1]`, ...) with its own retries,
 * timeout, outputs and events, through the run loop's ordinary task code (runner.ts hands a MapHost).
 *
 * Decisions:
 * - `urls` is read once, after the task's setup cells, as `list(urls)`: a parameter or a variable an
 *   upstream task set. Not defined, not iterable or longer than LIMITS.mapElements fails the task
 *   (Failed, naming the option) and no element runs.
 * - Elements run one after the other, in order, in the one kernel (a kernel runs one request at a
 *   time). `url` is bound to the element just before the element's first attempt; a retry runs the
 *   body again with the binding the failed attempt left.
 * - A failed element does not stop the others: once all ran, the task is Failed (its error names how
 *   many failed and the first), so no downstream task runs. A cancel or a crash stops at once: the
 *   elements not started are NotRun.
 * - Collection rule (mapResultsName): each element's result is the value of the body's last
 *   expression (what the notebook would show as Out[n]; None when the body ends in a statement or a
 *   `;`). Once every element ran, the kernel holds `fetch_results`, those values in the elements'
 *   order (None for a failed element), as Prefect's `fetch.map(urls)` returns its results in order.
 *   Downstream tasks read `fetch_results`.
 * - Cellflow's own bookkeeping in the kernel lives in one dict, `__cellflow_map__`, keyed by task and
 *   removed once the results are bound.
 */
import type { ExecuteOptions, ExecuteResult, IopubOutput } from './kernel.js';
import { LIMITS } from './limits.js';
import {
  elementTaskName,
  mapResultsName,
  parseElementTaskName
} from './mapping-options.js';
import type { RunError, TaskRecord, TaskState } from './runner.js';
import type { MapSpec, TaskSpec } from './spec.js';

export {
  elementTaskName,
  mapResultsName,
  parseElementTaskName
} from './mapping-options.js';

/** How one of Cellflow's own requests for a mapped task ended. */
export type MapExecution =
  | { kind: 'done'; result: ExecuteResult }
  | { kind: 'died'; error: RunError }
  | { kind: 'stopped' };

/** What the run loop lends mapping: its kernel, and its way of running and ending tasks. */
export interface MapHost {
  /** Runs Cellflow's own code (no timeout, not in the history); outputs go to `options.onOutput`. */
  execute(code: string, options: ExecuteOptions): Promise<MapExecution>;
  /** Adds an element to the run: its record, and its Pending event. */
  addElement(element: TaskSpec): void;
  /** Runs an element as a task (retries, timeout, outputs, events); its record once it ended. */
  runElement(element: TaskSpec): Promise<TaskRecord>;
  /** Reports an element that will not run. */
  notRun(element: TaskSpec, reason: string): void;
  /** Ends the mapped task itself (Failed fails the run, Crashed crashes it). */
  endTask(state: TaskState, error?: RunError): void;
  /** The code a task error gives, as the run loop builds it. */
  errorOf(result: ExecuteResult): RunError;
  /** True once the run was cancelled or crashed: nothing more is sent to the kernel. */
  isStopped(): boolean;
}

const KEY = '__cellflow_map__';
const SIZE_MARKER = '__cellflow_map_size__';

/** Runs the mapped task `task` (its setup already ran, its Running already reported). */
export async function runMappedTask(
  host: MapHost,
  task: TaskSpec & { map: MapSpec }
): Promise<void> {
  const size = await readIterable(host, task);
  if (size === null) {
    return;
  }
  const elements = Array.from({ length: size }, (_, index) =>
    elementSpec(task, index)
  );
  elements.forEach(element => host.addElement(element));

  const records: TaskRecord[] = [];
  for (const [index, element] of elements.entries()) {
    if (host.isStopped()) {
      // The run loop reports it NotRun, as any task after a cancel or a crash.
      records.push(await host.runElement(element));
      continue;
    }
    const bound = await host.execute(bindCode(task, index), { silent: true });
    if (bound.kind === 'died') {
      return crashed(host, elements.slice(index), bound.error);
    }
    if (bound.kind === 'done' && bound.result.status !== 'ok') {
      // Only if the body deleted Cellflow's own dict: say so rather than run on the wrong element.
      elements.slice(index).forEach(e => host.notRun(e, 'the mapping failed'));
      host.endTask('Failed', host.errorOf(bound.result));
      return;
    }
    const record = await host.runElement(element);
    records.push(record);
    if (record.state === 'Completed' && !host.isStopped()) {
      const count = record.attempts[record.attempts.length - 1]?.executionCount;
      const kept = await host.execute(keepResultCode(task, index, count), {
        silent: true
      });
      if (kept.kind === 'died') {
        return crashed(host, elements.slice(index + 1), kept.error);
      }
    }
  }

  const crash = records.find(r => r.state === 'Crashed');
  if (crash) {
    host.endTask('Crashed', crash.error);
    return;
  }
  const failed = records.filter(r => r.state === 'Failed');
  if (records.some(r => r.state === 'Cancelled' || r.state === 'NotRun')) {
    // Stopped early: a cancel, or a kernel given up on after a timeout (that element Failed).
    if (failed.length > 0) {
      host.endTask('Failed', failedError(task, failed, size));
    } else {
      host.endTask('Cancelled');
    }
    return;
  }
  const collected = await host.execute(collectCode(task, size), {
    silent: true
  });
  if (collected.kind === 'died') {
    host.endTask('Crashed', collected.error);
    return;
  }
  if (failed.length > 0) {
    host.endTask('Failed', failedError(task, failed, size));
    return;
  }
  if (collected.kind === 'done' && collected.result.status !== 'ok') {
    host.endTask('Failed', host.errorOf(collected.result));
    return;
  }
  host.endTask(collected.kind === 'stopped' ? 'Cancelled' : 'Completed');
}

/** Reads the iterable into the kernel's bookkeeping; its length, or null when the task ended. */
async function readIterable(
  host: MapHost,
  task: TaskSpec & { map: MapSpec }
): Promise<number | null> {
  let text = '';
  const outcome = await host.execute(startCode(task), {
    silent: false,
    storeHistory: false,
    onOutput: (output: IopubOutput) => {
      if (output.output_type === 'stream' && typeof output.text === 'string') {
        text += output.text;
      }
    }
  });
  if (outcome.kind === 'died') {
    host.endTask('Crashed', outcome.error);
    return null;
  }
  if (outcome.kind === 'stopped') {
    host.endTask('Cancelled');
    return null;
  }
  if (outcome.result.status !== 'ok') {
    host.endTask('Failed', host.errorOf(outcome.result));
    return null;
  }
  const match = new RegExp(`${SIZE_MARKER} (\\d+)`).exec(text);
  if (!match) {
    const evalue = `${optionText(task)}: the kernel did not report the number of elements`;
    host.endTask('Failed', {
      ename: 'MapError',
      evalue,
      traceback: [],
      summary: `MapError: ${evalue}`,
      cellId: task.cellId,
      source: 'task'
    });
    return null;
  }
  return Number(match[1]);
}

function elementSpec(task: TaskSpec, index: number): TaskSpec {
  // An element is never cached: its key could not tell one bound value from another.
  const { map: _map, cacheFor: _cacheFor, cacheKey: _cacheKey, ...rest } = task;
  return {
    ...rest,
    name: elementTaskName(task.name, index),
    setup: [],
    upstream: []
  };
}

function crashed(host: MapHost, notStarted: TaskSpec[], error: RunError): void {
  notStarted.forEach(e => host.notRun(e, 'the run crashed'));
  host.endTask('Crashed', error);
}

function failedError(
  task: TaskSpec,
  failed: TaskRecord[],
  size: number
): RunError {
  // One text for the chip of a run here and of a server run (which stores "ename: evalue").
  const first = failed[0];
  const firstText = `${first.name}: ${first.error?.summary ?? first.state}`;
  const evalue = `${failed.length} of ${size} elements failed (${firstText})`;
  return {
    ename: 'MapError',
    evalue,
    traceback: first.error?.traceback ?? [],
    summary: `MapError: ${evalue}`,
    cellId: task.cellId,
    source: 'task'
  };
}

function optionText(task: TaskSpec & { map: MapSpec }): string {
  return `--map ${task.map.name}=${task.map.over}`;
}

/** A Python string literal of a name (identifiers and task names only: JSON's quoting is Python's). */
function literal(text: string): string {
  return JSON.stringify(text);
}

/**
 * Reads `over` once into `__cellflow_map__[task]`, checked, and prints its length for the loop.
 * The names were checked by the compiler (identifiers), so they are safe to write into code.
 */
export function startCode(task: TaskSpec & { map: MapSpec }): string {
  const over = task.map.over;
  const option = literal(optionText(task));
  const max = LIMITS.mapElements.max;
  return [
    `if ${literal(KEY)} not in globals():`,
    `    ${KEY} = {}`,
    `if ${literal(over)} not in globals():`,
    `    raise NameError(${option} + ": no variable ${over}; give it as a parameter or set it in an upstream task")`,
    `try:`,
    `    __cellflow_items__ = list(iter(${over}))`,
    `except TypeError:`,
    `    raise TypeError(${option} + ": ${over} is not iterable (" + type(${over}).__name__ + ")") from None`,
    `if len(__cellflow_items__) > ${max}:`,
    `    __cellflow_n__ = len(__cellflow_items__)`,
    `    del __cellflow_items__`,
    `    raise ValueError(${option} + f": ${over} has {__cellflow_n__} elements; a mapped task takes at most ${max}")`,
    `${KEY}[${literal(task.name)}] = {"items": __cellflow_items__, "results": {}}`,
    `del __cellflow_items__`,
    `print(${literal(SIZE_MARKER)}, len(${KEY}[${literal(task.name)}]["items"]))`
  ].join('\n');
}

/** Binds the element's name to element `index`. */
export function bindCode(
  task: TaskSpec & { map: MapSpec },
  index: number
): string {
  return `${task.map.name} = ${KEY}[${literal(task.name)}]["items"][${index}]`;
}

/**
 * Keeps element `index`'s result: what its last attempt's last expression gave (IPython's output
 * history, Out[n], by the attempt's execution count), or None.
 */
export function keepResultCode(
  task: TaskSpec,
  index: number,
  executionCount: number | null | undefined
): string {
  const count =
    typeof executionCount === 'number' && Number.isInteger(executionCount)
      ? executionCount
      : -1;
  return `${KEY}[${literal(task.name)}]["results"][${index}] = get_ipython().history_manager.output_hist.get(${count})`;
}

/** Binds `<task>_results` (the collection rule above) and drops the bookkeeping. */
export function collectCode(task: TaskSpec, size: number): string {
  const entry = `${KEY}[${literal(task.name)}]`;
  return [
    `${mapResultsName(task.name)} = [${entry}["results"].get(__cellflow_i__) for __cellflow_i__ in range(${size})]`,
    `del ${entry}`
  ].join('\n');
}

/**
 * The run's task records with each mapped task's elements right after it, in element order (the
 * run loop keeps them by name).
 */
export function withElements(
  taskNames: string[],
  records: ReadonlyMap<string, TaskRecord>
): TaskRecord[] {
  const elements = new Map<string, TaskRecord[]>();
  for (const record of records.values()) {
    const element = parseElementTaskName(record.name);
    if (element) {
      const list = elements.get(element.task) ?? [];
      list[element.index] = record;
      elements.set(element.task, list);
    }
  }
  return taskNames.flatMap(name => [
    records.get(name)!,
    ...(elements.get(name) ?? []).filter(Boolean)
  ]);
}
