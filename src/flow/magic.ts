/**
 * The `%%task` first line and the task settings in cell metadata (`metadata.cellflow`): parsing,
 * rendering back, and merging the two, so the panel, the chip and the compiler read a cell the same way.
 */
import { formatCacheFor, parseCacheFor } from './cache-duration.js';
import { LIMITS, withinLimit, type NumberLimit } from './limits.js';
import { parseMapOption, readMapMetadata } from './mapping-options.js';
import type { MapSpec, TaskSettings } from './spec.js';
import { describeValue, identifierProblem } from './validate.js';

export const TASK_MAGIC = '%%task';

export const DEFAULT_TASK_SETTINGS: Readonly<TaskSettings> = Object.freeze({
  retries: 0,
  retryDelay: 0,
  backoff: 1,
  timeout: null
});

/** A problem in a `%%task` line or in a cell's task metadata; the compiler adds which cell. */
export interface MagicProblem {
  code: string;
  message: string;
}

/** The settings a `%%task` line or task metadata names; a field left out means "not said here". */
export interface TaskSettingsPatch {
  retries?: number;
  retryDelay?: number;
  backoff?: number;
  timeout?: number | null;
  /** Upstream task names; [] means "depends on nothing"; left out means "after the previous task". */
  after?: string[];
  /** `--map NAME=ITERABLE`: the body runs once per element (mapping-options.ts). */
  map?: MapSpec;
  /** Seconds a result may be reused (`--cache-for 1h`). */
  cacheFor?: number;
  /** Python expression whose value joins the cache key (`--cache-key EXPR`). */
  cacheKey?: string;
}

export type TaskOption = keyof TaskSettingsPatch;

export interface TaskMagic {
  /** False when the line is not a `%%task` line (then nothing else is set). */
  isTask: boolean;
  /** The task name, or null when missing or not a valid name (see problems). */
  name: string | null;
  settings: TaskSettingsPatch;
  /** The options in the order they were typed, for formatTaskMagic. */
  order: TaskOption[];
  problems: MagicProblem[];
}

/** `metadata.cellflow.task` as stored in the notebook. */
export interface CellflowTaskMetadata extends TaskSettingsPatch {
  name: string;
}

/** `metadata.cellflow` of a cell. */
export interface CellflowCellMetadata {
  task?: CellflowTaskMetadata;
  /** A skipped cell never runs in a flow (it still runs interactively). */
  skip?: boolean;
  [key: string]: unknown;
}

const OPTION_FLAGS: Record<TaskOption, string> = {
  retries: '--retries',
  retryDelay: '--retry-delay',
  backoff: '--backoff',
  timeout: '--timeout',
  after: '--after',
  map: '--map',
  cacheFor: '--cache-for',
  cacheKey: '--cache-key'
};
const OPTION_ORDER: TaskOption[] = [
  'retries',
  'retryDelay',
  'backoff',
  'timeout',
  'after',
  'map',
  'cacheFor',
  'cacheKey'
];

/** The longest `--cache-key` expression, in characters. */
export const MAX_CACHE_KEY_LENGTH = 1000;

type NumberOption = 'retries' | 'retryDelay' | 'backoff' | 'timeout';
const FLAG_OPTIONS = new Map<string, TaskOption>(
  OPTION_ORDER.map(option => [OPTION_FLAGS[option], option])
);
const ALL_FLAGS = OPTION_ORDER.map(option => OPTION_FLAGS[option]).join(', ');

// A plain decimal number as people type it: 3, 2.5, .5, 1e3; no sign, no hex, no "Infinity".
const DECIMAL = /^\+?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const WHOLE = /^\+?\d+$/;

const MAGIC_LINE = /^%%task(?=\s|$)/;

/** The first line of a cell source (string or nbformat's list of lines), without its line break. */
export function firstLine(source: string | string[]): string {
  const text = Array.isArray(source) ? source.join('') : source;
  const end = text.indexOf('\n');
  return (end < 0 ? text : text.slice(0, end)).replace(/\r$/, '');
}

/** True when the line is a `%%task` line (well-formed or not). */
export function isTaskMagicLine(line: string): boolean {
  return MAGIC_LINE.test(line);
}

/**
 * Parses `%%task NAME [--retries N] [--retry-delay S] [--backoff F] [--timeout S] [--after a,b]
 * [--map NAME=ITERABLE] [--cache-for DURATION] [--cache-key EXPR]`, with
 * `--opt value` or `--opt=value`. Never throws: whatever is wrong is listed in `problems`, and the
 * settings hold only the values that are valid.
 */
export function parseTaskMagic(line: string): TaskMagic {
  const result: TaskMagic = {
    isTask: false,
    name: null,
    settings: {},
    order: [],
    problems: []
  };
  const text = line.replace(/\r?\n[\s\S]*$/, '');
  if (!MAGIC_LINE.test(text)) {
    return result;
  }
  result.isTask = true;
  const problem = (code: string, message: string) =>
    result.problems.push({ code, message });
  // Words, where a quoted part ("a b" or 'a b') may hold spaces: `--cache-key "date.today()"`.
  const tokens =
    text
      .slice(TASK_MAGIC.length)
      .trim()
      .match(/(?:[^\s"']+|"[^"]*"|'[^']*'|["'])+/g) ?? [];
  const positionals: string[] = [];

  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (!token.startsWith('--')) {
      positionals.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const flag = eq < 0 ? token : token.slice(0, eq);
    let value: string | undefined = eq < 0 ? undefined : token.slice(eq + 1);
    // Every option takes a value: take the next word unless it is itself an option.
    if (
      value === undefined &&
      i + 1 < tokens.length &&
      !tokens[i + 1].startsWith('--')
    ) {
      value = tokens[++i];
    }
    const option = FLAG_OPTIONS.get(flag);
    if (!option) {
      problem(
        'unknown-option',
        `Unknown option "${flag}" in the %%task line; the options are ${ALL_FLAGS}`
      );
      continue;
    }
    if (option === 'after' && value !== undefined) {
      // `--after a, b` splits into "a," and "b": join them back.
      while (
        value.endsWith(',') &&
        i + 1 < tokens.length &&
        !tokens[i + 1].startsWith('--')
      ) {
        value += tokens[++i];
      }
    }
    if (value === undefined) {
      problem(
        'missing-value',
        `${flag} needs a value, e.g. ${example(option)}`
      );
      continue;
    }
    if (result.order.includes(option)) {
      problem(
        'duplicate-option',
        `${flag} is given more than once in the %%task line`
      );
      continue;
    }
    result.order.push(option);
    const parsed = parseOptionValue(option, value, flag);
    result.problems.push(...parsed.problems);
    if (parsed.value !== undefined) {
      (result.settings as Record<string, unknown>)[option] = parsed.value;
    }
  }

  if (positionals.length === 0) {
    problem(
      'missing-task-name',
      '%%task needs a task name, e.g. "%%task extract"'
    );
  } else {
    const nameProblem = identifierProblem('Task name', positionals[0]);
    if (nameProblem) {
      problem('invalid-task-name', nameProblem);
    } else {
      result.name = positionals[0];
    }
    for (const extra of positionals.slice(1)) {
      problem(
        'unexpected-argument',
        `Unexpected "${extra}" in the %%task line: it takes one task name, then options (${ALL_FLAGS})`
      );
    }
  }
  return result;
}

function example(option: TaskOption): string {
  const examples: Record<TaskOption, string> = {
    retries: '--retries 3',
    retryDelay: '--retry-delay 10',
    backoff: '--backoff 2',
    timeout: '--timeout 600',
    after: '--after extract,transform',
    map: '--map url=urls',
    cacheFor: '--cache-for 1h',
    cacheKey: '--cache-key "str(date.today())"'
  };
  return examples[option];
}

interface ParsedValue {
  value?: number | string[] | string | MapSpec;
  problems: MagicProblem[];
}

function parseOptionValue(
  option: TaskOption,
  value: string,
  flag: string
): ParsedValue {
  if (option === 'after') {
    return parseAfterList(value, flag);
  }
  if (option === 'cacheFor') {
    const seconds = parseCacheFor(value);
    return typeof seconds === 'number'
      ? { value: seconds, problems: [] }
      : {
          problems: [
            { code: 'invalid-cache-for', message: `${flag} ${seconds}` }
          ]
        };
  }
  if (option === 'cacheKey') {
    const problem = cacheKeyProblem(unquote(value));
    return problem
      ? {
          problems: [
            { code: 'invalid-cache-key', message: `${flag} ${problem}` }
          ]
        }
      : { value: unquote(value), problems: [] };
  }
  if (option === 'map') {
    return parseMapOption(value, flag);
  }
  const rule = NUMBER_RULES[option];
  const number = (rule.whole ? WHOLE : DECIMAL).test(value)
    ? Number(value)
    : NaN;
  // 1e400 reads as Infinity: too large, like 1e30.
  if (
    number === Infinity ||
    (rule.accepts(number) && number > rule.limit.max)
  ) {
    const message = `${flag} ${tooLarge(rule.limit)}, got "${value}"`;
    return { problems: [{ code: `invalid-${kebab(option)}`, message }] };
  }
  if (Number.isFinite(number) && rule.accepts(number)) {
    return { value: number, problems: [] };
  }
  const message = `${flag} ${rule.expected}, got "${value}"`;
  return { problems: [{ code: `invalid-${kebab(option)}`, message }] };
}

/** "must be at most 100", "must be at most 86400 seconds": the upper bound in limits.ts. */
function tooLarge(limit: NumberLimit): string {
  return `must be at most ${limit.max}${limit.unit ? ` ${limit.unit}` : ''}`;
}

interface NumberRule {
  /** The bounds (limits.ts); `accepts` checks the lower one with the historical wording. */
  limit: NumberLimit;
  whole: boolean;
  accepts: (n: number) => boolean;
  /** Completes "<field> ..." in messages. */
  expected: string;
}

/** The text inside matching quotes ("x y" → x y); anything else unchanged. */
function unquote(value: string): string {
  const m = /^(["'])([\s\S]*)\1$/.exec(value);
  return m ? m[2] : value;
}

/** Completes "--cache-key ..." when the expression cannot be used; null when it can. */
function cacheKeyProblem(expression: unknown): string | null {
  if (typeof expression !== 'string' || expression.trim() === '') {
    return 'must be a Python expression, e.g. "str(date.today())"';
  }
  if (expression.length > MAX_CACHE_KEY_LENGTH) {
    return `must be at most ${MAX_CACHE_KEY_LENGTH} characters, got ${expression.length}`;
  }
  return null;
}

/** A `--cache-key` value as the line writes it: quoted when it holds spaces or quotes. */
function quoteCacheKey(expression: string): string {
  // Quotes only group words: without spaces (and not itself quoted) the expression reads back as is.
  if (!/\s/.test(expression) && !/^(["'])[\s\S]*\1$/.test(expression)) {
    return expression;
  }
  return expression.includes('"') ? `'${expression}'` : `"${expression}"`;
}

const NUMBER_RULES: Record<NumberOption, NumberRule> = {
  retries: {
    limit: LIMITS.retries,
    whole: true,
    accepts: n => n >= 0,
    expected: 'must be a whole number ≥ 0'
  },
  retryDelay: {
    limit: LIMITS.retryDelay,
    whole: false,
    accepts: n => n >= 0,
    expected: 'must be a number of seconds ≥ 0'
  },
  backoff: {
    limit: LIMITS.backoff,
    whole: false,
    accepts: n => n >= 1,
    expected: 'must be a number ≥ 1'
  },
  timeout: {
    limit: LIMITS.timeout,
    whole: false,
    accepts: n => n > 0,
    expected: 'must be a number of seconds > 0'
  }
};

function kebab(option: TaskOption): string {
  return option.replace(/[A-Z]/g, c => '-' + c.toLowerCase());
}

function parseAfterList(
  value: string,
  flag: string
): { value: string[]; problems: MagicProblem[] } {
  const problems: MagicProblem[] = [];
  if (value.trim() === '') {
    // `--after=` says explicitly: this task depends on nothing.
    return { value: [], problems };
  }
  const names: string[] = [];
  for (const raw of value.split(',')) {
    const name = raw.trim();
    if (name === '') {
      problems.push({
        code: 'invalid-dependency',
        message: `${flag} "${value}" has an empty name between commas`
      });
      continue;
    }
    const nameProblem = identifierProblem(`${flag} name`, name);
    if (nameProblem) {
      problems.push({ code: 'invalid-dependency', message: nameProblem });
    } else if (!names.includes(name)) {
      names.push(name);
    }
  }
  return { value: names, problems };
}

/**
 * Renders a `%%task` line for these settings. Only values that differ from the defaults are written;
 * options keep the order they had in `previousLine` (when given), new ones follow in a fixed order.
 * `after: []` is written `--after=` (depends on nothing); a missing `after` is left out.
 */
export function formatTaskMagic(
  name: string,
  settings: Partial<TaskSettings> & {
    after?: string[] | null;
    map?: MapSpec | null;
  },
  previousLine?: string
): string {
  const previous = previousLine ? parseTaskMagic(previousLine).order : [];
  const order = [
    ...previous,
    ...OPTION_ORDER.filter(option => !previous.includes(option))
  ];
  const parts = [TASK_MAGIC, name];
  for (const option of order) {
    if (option === 'after') {
      const after = settings.after;
      if (Array.isArray(after)) {
        parts.push(
          after.length === 0 ? '--after=' : `--after ${after.join(',')}`
        );
      }
      continue;
    }
    if (option === 'cacheFor') {
      if (typeof settings.cacheFor === 'number') {
        parts.push(`--cache-for ${formatCacheFor(settings.cacheFor)}`);
      }
      continue;
    }
    if (option === 'cacheKey') {
      if (typeof settings.cacheKey === 'string' && settings.cacheKey !== '') {
        parts.push(`--cache-key ${quoteCacheKey(settings.cacheKey)}`);
      }
      continue;
    }
    if (option === 'map') {
      if (settings.map) {
        parts.push(`--map ${settings.map.name}=${settings.map.over}`);
      }
      continue;
    }
    const value = settings[option];
    if (typeof value === 'number' && value !== DEFAULT_TASK_SETTINGS[option]) {
      parts.push(`${OPTION_FLAGS[option]} ${value}`);
    }
  }
  return parts.join(' ');
}

/** The source without its `%%task` first line (unchanged when it has none). */
export function stripMagicLine(source: string | string[]): string {
  const text = Array.isArray(source) ? source.join('') : source;
  if (!MAGIC_LINE.test(text)) {
    return text;
  }
  const end = text.indexOf('\n');
  return end < 0 ? '' : text.slice(end + 1);
}

/** What one cell says about itself as a task, from its metadata and its first line together. */
export interface EffectiveTask {
  /** True when the cell has a `%%task` line or `metadata.cellflow.task`. */
  isTask: boolean;
  /** True when `metadata.cellflow.skip` is set: the cell never runs in a flow. */
  skip: boolean;
  name: string | null;
  /** Every setting, defaults filled in. */
  settings: TaskSettings;
  /** Declared upstream tasks, or null to run after the previous task in the notebook. */
  after: string[] | null;
  /** `--map NAME=ITERABLE` (or `metadata.cellflow.task.map`), or null for a task that runs once. */
  map: MapSpec | null;
  /** Where the task came from. */
  fromMagic: boolean;
  fromMetadata: boolean;
  problems: MagicProblem[];
  warnings: MagicProblem[];
}

/** A cell as nbformat stores it, loosely: only the parts read here. */
export interface CellLike {
  source?: unknown;
  metadata?: unknown;
}

/**
 * Merges `metadata.cellflow.task` and the `%%task` line, the line winning for the fields it names, so
 * the UI and the compiler agree on what a cell is.
 */
export function effectiveTaskSettings(cell: CellLike): EffectiveTask {
  const source =
    typeof cell.source === 'string' || Array.isArray(cell.source)
      ? sourceText(cell.source)
      : '';
  const magic = parseTaskMagic(firstLine(source));
  const meta = readCellflowMetadata(cell.metadata);
  const result: EffectiveTask = {
    isTask: magic.isTask || meta.task !== null,
    skip: meta.skip,
    name: null,
    settings: { ...DEFAULT_TASK_SETTINGS },
    after: null,
    map: null,
    fromMagic: magic.isTask,
    fromMetadata: meta.task !== null,
    problems: [...meta.problems, ...magic.problems],
    warnings: []
  };
  if (!result.isTask) {
    return result;
  }
  const patch: TaskSettingsPatch = {
    ...(meta.task?.settings ?? {}),
    ...magic.settings
  };
  const { after, map, ...numbers } = patch;
  Object.assign(result.settings, numbers);
  result.after = after ?? null;
  result.map = map ?? null;
  if (result.map && result.settings.cacheFor) {
    result.warnings.push({
      code: 'map-not-cached',
      message:
        '--cache-for has no effect on a mapped task (--map): no cache key tells one element from another'
    });
  }
  if (result.settings.cacheKey !== undefined && !result.settings.cacheFor) {
    result.warnings.push({
      code: 'cache-key-without-cache-for',
      message:
        '--cache-key has no effect without --cache-for (how long a result may be reused, e.g. --cache-for 1h)'
    });
  }
  if (magic.isTask) {
    result.name = magic.name;
    const metaName = meta.task?.name;
    if (magic.name && metaName && metaName !== magic.name) {
      result.warnings.push({
        code: 'task-name-mismatch',
        message: `The %%task line names the task "${magic.name}" but the cell metadata says "${metaName}"; the line wins`
      });
    }
  } else {
    result.name = meta.task?.name ?? null;
  }
  return result;
}

function sourceText(source: unknown): string {
  if (Array.isArray(source)) {
    return source.filter(line => typeof line === 'string').join('');
  }
  return typeof source === 'string' ? source : '';
}

interface ReadMetadata {
  task: { name: string | null; settings: TaskSettingsPatch } | null;
  skip: boolean;
  problems: MagicProblem[];
}

/** Reads and checks `metadata.cellflow` of a cell; anything malformed becomes a problem. */
export function readCellflowMetadata(metadata: unknown): ReadMetadata {
  const result: ReadMetadata = { task: null, skip: false, problems: [] };
  const problem = (code: string, message: string) =>
    result.problems.push({ code, message });
  if (!isRecord(metadata) || metadata.cellflow === undefined) {
    return result;
  }
  const cellflow = metadata.cellflow;
  if (!isRecord(cellflow)) {
    problem(
      'invalid-metadata',
      `metadata.cellflow must be an object, got ${describeValue(cellflow)}`
    );
    return result;
  }
  if (cellflow.skip !== undefined) {
    if (typeof cellflow.skip === 'boolean') {
      result.skip = cellflow.skip;
    } else {
      problem(
        'invalid-metadata',
        `metadata.cellflow.skip must be true or false, got ${describeValue(cellflow.skip)}`
      );
    }
  }
  if (cellflow.task === undefined || cellflow.task === null) {
    return result;
  }
  const task = cellflow.task;
  if (!isRecord(task)) {
    problem(
      'invalid-metadata',
      `metadata.cellflow.task must be an object, got ${describeValue(task)}`
    );
    return result;
  }
  result.task = { name: null, settings: {} };
  const nameProblem = identifierProblem(
    'Task name in metadata.cellflow.task.name',
    task.name
  );
  if (task.name === undefined) {
    problem('missing-task-name', 'metadata.cellflow.task has no name');
  } else if (nameProblem) {
    problem('invalid-task-name', nameProblem);
  } else {
    result.task.name = task.name as string;
  }
  for (const option of [
    'retries',
    'retryDelay',
    'backoff',
    'timeout'
  ] as const) {
    const value = task[option];
    if (value === undefined || (option === 'timeout' && value === null)) {
      if (value === null) {
        result.task.settings.timeout = null;
      }
      continue;
    }
    const rule = NUMBER_RULES[option];
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (!rule.whole || Number.isInteger(value)) &&
      rule.accepts(value);
    if (ok && (value as number) > rule.limit.max) {
      problem(
        `invalid-${kebab(option)}`,
        `metadata.cellflow.task.${option} ${tooLarge(rule.limit)}, got ${describeValue(value)}`
      );
    } else if (ok) {
      result.task.settings[option] = value as number;
    } else {
      problem(
        `invalid-${kebab(option)}`,
        `metadata.cellflow.task.${option} ${rule.expected}, got ${describeValue(value)}`
      );
    }
  }
  if (task.cacheFor !== undefined && task.cacheFor !== null) {
    if (withinLimit(task.cacheFor, LIMITS.cacheFor)) {
      result.task.settings.cacheFor = task.cacheFor as number;
    } else {
      problem(
        'invalid-cache-for',
        `metadata.cellflow.task.cacheFor must be a whole number of seconds from 1 to ${LIMITS.cacheFor.max} (365 days), got ${describeValue(task.cacheFor)}`
      );
    }
  }
  if (task.cacheKey !== undefined && task.cacheKey !== null) {
    const keyProblem = cacheKeyProblem(task.cacheKey);
    if (keyProblem) {
      problem(
        'invalid-cache-key',
        `metadata.cellflow.task.cacheKey ${keyProblem}`
      );
    } else {
      result.task.settings.cacheKey = task.cacheKey as string;
    }
  }
  if (task.after !== undefined && task.after !== null) {
    if (!Array.isArray(task.after)) {
      problem(
        'invalid-dependency',
        `metadata.cellflow.task.after must be a list of task names, got ${describeValue(task.after)}`
      );
    } else {
      const names: string[] = [];
      for (const name of task.after) {
        const afterProblem = identifierProblem(
          'metadata.cellflow.task.after name',
          name
        );
        if (afterProblem) {
          problem('invalid-dependency', afterProblem);
        } else if (!names.includes(name)) {
          names.push(name);
        }
      }
      result.task.settings.after = names;
    }
  }
  if (task.map !== undefined && task.map !== null) {
    const map = readMapMetadata(task.map);
    if (map.value) {
      result.task.settings.map = map.value;
    }
    result.problems.push(...map.problems);
  }
  return result;
}

/**
 * The `metadata.cellflow` a `%%task` line implies, for the UI to mirror the line into metadata.
 * Keys other than `task` (such as `skip`) are kept from `existing`. The task holds exactly what the
 * line says (so deleting `--retries 3` from the line deletes it from the metadata); when the line's
 * name is missing or invalid the existing name is kept, so a half-typed line loses nothing. A line that
 * is not a `%%task` line gives the metadata without `task`.
 */
export function metadataFromMagic(
  line: string | TaskMagic,
  existing?: unknown
): CellflowCellMetadata {
  const magic = typeof line === 'string' ? parseTaskMagic(line) : line;
  const base: CellflowCellMetadata = isRecord(existing) ? { ...existing } : {};
  const previousName =
    isRecord(base.task) && typeof base.task.name === 'string'
      ? base.task.name
      : null;
  delete base.task;
  if (!magic.isTask) {
    return base;
  }
  const name = magic.name ?? previousName;
  if (name === null) {
    return base;
  }
  const task: CellflowTaskMetadata = { name };
  for (const option of OPTION_ORDER) {
    const value = magic.settings[option];
    if (value !== undefined) {
      (task as unknown as Record<string, unknown>)[option] = Array.isArray(
        value
      )
        ? [...value]
        : typeof value === 'object'
          ? { ...value }
          : value;
    }
  }
  base.task = task;
  return base;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
