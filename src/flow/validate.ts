/**
 * Name rules shared by task names, dependencies and parameters: each becomes a Python name in the
 * flow's kernel, so each must be a Python identifier that is not a keyword.
 */

/** Python 3 hard keywords (soft keywords such as `match` or `type` are valid names). */
export const PYTHON_KEYWORDS: ReadonlySet<string> = new Set([
  'False',
  'None',
  'True',
  'and',
  'as',
  'assert',
  'async',
  'await',
  'break',
  'class',
  'continue',
  'def',
  'del',
  'elif',
  'else',
  'except',
  'finally',
  'for',
  'from',
  'global',
  'if',
  'import',
  'in',
  'is',
  'lambda',
  'nonlocal',
  'not',
  'or',
  'pass',
  'raise',
  'return',
  'try',
  'while',
  'with',
  'yield'
]);

// Python identifiers are Unicode XID_Start XID_Continue*; these property classes approximate them.
const IDENTIFIER = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u;

/** True for a string Python accepts as a variable name. */
export function isPythonIdentifier(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    IDENTIFIER.test(name) &&
    !PYTHON_KEYWORDS.has(name)
  );
}

/**
 * Why `name` is not usable as a Python name, or null when it is. `what` says what the name is for,
 * e.g. 'Task name' or 'Parameter name'.
 */
export function identifierProblem(what: string, name: unknown): string | null {
  if (typeof name !== 'string') {
    return `${what} must be a string, got ${describeValue(name)}`;
  }
  if (name === '') {
    return `${what} is empty`;
  }
  if (PYTHON_KEYWORDS.has(name)) {
    return `${what} "${name}" is a Python keyword, which cannot be used as a name`;
  }
  if (!IDENTIFIER.test(name)) {
    return `${what} "${name}" is not a Python identifier (letters, digits and _, not starting with a digit)`;
  }
  return null;
}

/** A short, readable rendering of any value for error messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) {
    return 'nothing';
  }
  if (typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return String(value);
  }
  try {
    const text = JSON.stringify(value);
    if (text === undefined) {
      return String(value);
    }
    return text.length > 60 ? text.slice(0, 57) + '...' : text;
  } catch {
    return String(value);
  }
}

/** "Cell 4" for index 3 (people count cells from 1), with the task name when known. */
export function cellLabel(cellIndex: number, taskName?: string | null): string {
  return taskName
    ? `Cell ${cellIndex + 1} (task "${taskName}")`
    : `Cell ${cellIndex + 1}`;
}
