/**
 * The `--map NAME=ITERABLE` option of a `%%task` line and `metadata.cellflow.task.map`: parsing and
 * checking, and the names a mapped task's elements and collected results get. No kernel here: the
 * run side is mapping.ts.
 */
import type { MapSpec } from './spec.js';
import { describeValue, identifierProblem } from './validate.js';

/** Longest name `--map` accepts on either side (a Python name, but one a person typed). */
export const MAX_MAP_NAME_LENGTH = 100;

export interface MapOptionProblem {
  code: string;
  message: string;
}

/**
 * `url=urls` → `{name: 'url', over: 'urls'}`. Both sides must be Python identifiers of at most
 * MAX_MAP_NAME_LENGTH characters, and different (binding the element to the iterable's own name
 * would hide the iterable from the body).
 */
export function parseMapOption(
  value: string,
  flag = '--map'
): { value?: MapSpec; problems: MapOptionProblem[] } {
  const eq = value.indexOf('=');
  if (eq < 0) {
    return fail(
      `${flag} takes NAME=ITERABLE, e.g. "${flag} url=urls", got "${value}"`
    );
  }
  return checkMap(value.slice(0, eq).trim(), value.slice(eq + 1).trim(), flag);
}

/** `metadata.cellflow.task.map`: `{"name": "url", "over": "urls"}`. */
export function readMapMetadata(value: unknown): {
  value?: MapSpec;
  problems: MapOptionProblem[];
} {
  const where = 'metadata.cellflow.task.map';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(
      `${where} must be an object such as {"name": "url", "over": "urls"}, got ${describeValue(value)}`
    );
  }
  const { name, over } = value as Record<string, unknown>;
  return checkMap(name, over, where);
}

function checkMap(
  name: unknown,
  over: unknown,
  where: string
): { value?: MapSpec; problems: MapOptionProblem[] } {
  const problems: MapOptionProblem[] = [];
  for (const [what, text] of [
    ['element name', name],
    ['iterable', over]
  ] as const) {
    const problem = identifierProblem(`${where} ${what}`, text);
    if (problem) {
      problems.push({ code: 'invalid-map', message: problem });
    } else if ((text as string).length > MAX_MAP_NAME_LENGTH) {
      problems.push({
        code: 'invalid-map',
        message: `${where} ${what} must be at most ${MAX_MAP_NAME_LENGTH} characters, got ${(text as string).length}`
      });
    }
  }
  if (problems.length === 0 && name === over) {
    problems.push({
      code: 'invalid-map',
      message: `${where} binds each element to "${name}", the iterable's own name: give the element another name, e.g. "${where === '--map' ? '--map ' : ''}item=${over}"`
    });
  }
  return problems.length > 0
    ? { problems }
    : { value: { name: name as string, over: over as string }, problems };
}

function fail(message: string): { problems: MapOptionProblem[] } {
  return { problems: [{ code: 'invalid-map', message }] };
}

/** The task run of element `index` of a mapped task: `fetch[3]`. */
export function elementTaskName(task: string, index: number): string {
  return `${task}[${index}]`;
}

const ELEMENT_NAME = /^(.+)\[(\d+)\]$/u;

/**
 * `fetch[3]` → `{task: 'fetch', index: 3}`; null for a plain task name. Task names are Python
 * identifiers, so a name with brackets is always an element.
 */
export function parseElementTaskName(
  name: string
): { task: string; index: number } | null {
  const match = ELEMENT_NAME.exec(name);
  return match ? { task: match[1], index: Number(match[2]) } : null;
}

/**
 * The collection rule: once every element ran, the kernel holds a list named `<task>_results`, the
 * value of the body's last expression for each element, in the elements' order (None for an element
 * whose body ends in a statement, or with `;`, or that failed). As Prefect's `fetch.map(urls)` gives
 * its results in order, downstream tasks read `fetch_results`.
 */
export function mapResultsName(task: string): string {
  return `${task}_results`;
}

/**
 * Task names with each mapped task's elements moved right after their task, in element order (the
 * store lists elements after every task, as the run made them).
 */
export function groupElements(names: readonly string[]): string[] {
  const elements = new Map<string, { name: string; index: number }[]>();
  const plain: string[] = [];
  for (const name of names) {
    const element = parseElementTaskName(name);
    if (element && names.includes(element.task)) {
      const list = elements.get(element.task) ?? [];
      list.push({ name, index: element.index });
      elements.set(element.task, list);
    } else {
      plain.push(name);
    }
  }
  return plain.flatMap(name => [
    name,
    ...(elements.get(name) ?? [])
      .sort((a, b) => a.index - b.index)
      .map(e => e.name)
  ]);
}
