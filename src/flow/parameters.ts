/**
 * Flow parameters: declared by the `parameters` cell's literals and refined by notebook metadata
 * (`metadata.cellflow.parameters`); checked again when a run gives values; injected into the kernel
 * as data.
 */
import { base64Encode, utf8Encode } from './hash.js';
import { parseParametersSource, type LiteralKind } from './python-literal.js';
import type { ParameterSpec, ParameterType } from './spec.js';
import {
  describeValue,
  identifierProblem,
  isPythonIdentifier
} from './validate.js';

export const PARAMETER_TYPES: readonly ParameterType[] = [
  'string',
  'integer',
  'number',
  'boolean',
  'json'
];

/** A problem with the parameters; `line` is set for problems in the parameters cell. */
export interface ParameterProblem {
  code: string;
  message: string;
  /** True when the problem is in the parameters cell (false: in notebook metadata). */
  inCell: boolean;
  line?: number;
  parameter?: string;
}

export interface ParametersResult {
  parameters: ParameterSpec[];
  problems: ParameterProblem[];
  warnings: ParameterProblem[];
}

const KIND_TYPES: Record<LiteralKind, ParameterType> = {
  str: 'string',
  int: 'integer',
  float: 'number',
  bool: 'boolean',
  none: 'json',
  list: 'json',
  tuple: 'json',
  dict: 'json'
};

// `x: int = 3` declares the type as papermill reads it; other annotations leave the type inferred.
const ANNOTATION_TYPES: Record<string, ParameterType> = {
  str: 'string',
  int: 'integer',
  float: 'number',
  bool: 'boolean',
  list: 'json',
  dict: 'json',
  tuple: 'json'
};

// Names the injection code uses for itself in the kernel: a parameter of that name would be deleted.
const RESERVED_PREFIX = '_cf_';

/**
 * Reads the parameters cell (source, or null when there is none) and the notebook's
 * `metadata.cellflow.parameters` into parameter specs, cell order first, then metadata-only ones.
 */
export function resolveParameters(
  cellSource: string | null,
  metadataParameters: unknown
): ParametersResult {
  const result: ParametersResult = {
    parameters: [],
    problems: [],
    warnings: []
  };
  const byName = new Map<
    string,
    { spec: ParameterSpec; line?: number; declared: boolean }
  >();

  if (cellSource !== null) {
    const parsed = parseParametersSource(cellSource);
    // The cell is the notebook's own code, as papermill runs it: a line that is not `name = literal`
    // (an import, `n = 2 * 3`) runs as written before the injected values; it just has no typed field.
    for (const problem of parsed.problems) {
      result.warnings.push({
        code: 'parameters-code',
        message: `line ${problem.line}: "${problem.text}" runs as code and gives no parameter field (${problem.reason})`,
        inCell: true,
        line: problem.line
      });
    }
    for (const assignment of parsed.assignments) {
      const previous = byName.get(assignment.name);
      if (previous) {
        result.warnings.push({
          code: 'duplicate-parameter',
          message: `line ${assignment.line}: "${assignment.name}" is assigned again (first on line ${previous.line}); the last value is the default`,
          inCell: true,
          line: assignment.line,
          parameter: assignment.name
        });
      }
      const annotated = assignment.annotation
        ? ANNOTATION_TYPES[assignment.annotation]
        : undefined;
      const spec: ParameterSpec = {
        name: assignment.name,
        type: annotated ?? KIND_TYPES[assignment.kind],
        default: assignment.value,
        required: false,
        ...(assignment.description
          ? { description: assignment.description }
          : {})
      };
      byName.set(assignment.name, {
        spec,
        line: assignment.line,
        declared: annotated !== undefined
      });
    }
  }

  for (const [name, entry] of readMetadataParameters(
    metadataParameters,
    result.problems
  )) {
    const existing = byName.get(name);
    const spec: ParameterSpec = existing?.spec ?? {
      name,
      type: entry.type ?? inferType(entry.default ?? null),
      default: entry.default ?? null,
      required: false
    };
    if (entry.type) {
      spec.type = entry.type;
    }
    if (entry.default !== undefined) {
      spec.default = entry.default;
    }
    if (entry.required !== undefined) {
      spec.required = entry.required;
    }
    if (entry.description !== undefined) {
      spec.description = entry.description;
    }
    byName.set(name, {
      spec,
      line: entry.default === undefined ? existing?.line : undefined,
      declared: true
    });
  }

  for (const { spec, line } of byName.values()) {
    const nameProblem = identifierProblem('Parameter name', spec.name);
    if (nameProblem) {
      result.problems.push({
        code: 'invalid-parameter-name',
        message: nameProblem,
        inCell: line !== undefined,
        line,
        parameter: spec.name
      });
    } else if (spec.name.startsWith(RESERVED_PREFIX)) {
      result.problems.push({
        code: 'invalid-parameter-name',
        message: `Parameter name "${spec.name}" starts with ${RESERVED_PREFIX}, which Cellflow keeps for itself`,
        inCell: line !== undefined,
        line,
        parameter: spec.name
      });
    }
    const mismatch = typeMismatch(spec.type, spec.default);
    if (mismatch) {
      result.problems.push({
        code: 'default-type-mismatch',
        message:
          (line !== undefined ? `line ${line}: ` : '') +
          `parameter "${spec.name}" is declared ${spec.type} but its default ${describeValue(spec.default)} ${mismatch}`,
        inCell: line !== undefined,
        line,
        parameter: spec.name
      });
    }
    result.parameters.push(spec);
  }
  return result;
}

interface MetadataParameter {
  type?: ParameterType;
  required?: boolean;
  description?: string;
  default?: unknown;
}

function readMetadataParameters(
  value: unknown,
  problems: ParameterProblem[]
): Map<string, MetadataParameter> {
  const entries = new Map<string, MetadataParameter>();
  if (value === undefined || value === null) {
    return entries;
  }
  const problem = (message: string, parameter?: string) =>
    problems.push({
      code: 'invalid-parameter-metadata',
      message,
      inCell: false,
      parameter
    });
  if (!isRecord(value)) {
    problem(
      `notebook metadata.cellflow.parameters must be an object of parameters, got ${describeValue(value)}`
    );
    return entries;
  }
  for (const [name, raw] of Object.entries(value)) {
    const where = `notebook metadata.cellflow.parameters.${name}`;
    if (!isRecord(raw)) {
      problem(
        `${where} must be an object like {"type": "string"}, got ${describeValue(raw)}`,
        name
      );
      continue;
    }
    const entry: MetadataParameter = {};
    if (raw.type !== undefined) {
      if (PARAMETER_TYPES.includes(raw.type as ParameterType)) {
        entry.type = raw.type as ParameterType;
      } else {
        problem(
          `${where}.type must be one of ${PARAMETER_TYPES.join(', ')}, got ${describeValue(raw.type)}`,
          name
        );
      }
    }
    if (raw.required !== undefined) {
      if (typeof raw.required === 'boolean') {
        entry.required = raw.required;
      } else {
        problem(
          `${where}.required must be true or false, got ${describeValue(raw.required)}`,
          name
        );
      }
    }
    if (raw.description !== undefined) {
      if (typeof raw.description === 'string') {
        entry.description = raw.description;
      } else {
        problem(
          `${where}.description must be a string, got ${describeValue(raw.description)}`,
          name
        );
      }
    }
    if (raw.default !== undefined) {
      entry.default = raw.default;
    }
    entries.set(name, entry);
  }
  return entries;
}

/** The parameter type a JSON value suggests when none is declared. */
export function inferType(value: unknown): ParameterType {
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'number':
      return Number.isInteger(value) ? 'integer' : 'number';
    default:
      return 'json';
  }
}

/** Why `value` does not fit `type` (completing "its default X ..."), or null when it fits. */
function typeMismatch(type: ParameterType, value: unknown): string | null {
  if (value === null) {
    // null is "no default": a run must then give a value when the parameter is required.
    return null;
  }
  switch (type) {
    case 'string':
      return typeof value === 'string' ? null : 'is not a string';
    case 'integer':
      return typeof value === 'number' && Number.isSafeInteger(value)
        ? null
        : 'is not a whole number';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value)
        ? null
        : 'is not a number';
    case 'boolean':
      return typeof value === 'boolean' ? null : 'is not true or false';
    case 'json':
      return isJsonValue(value) ? null : 'is not JSON data';
  }
}

export type CoercionResult =
  { ok: true; value: unknown } | { ok: false; message: string };

export interface CoerceOptions {
  /**
   * The value was typed as text (CLI `-p name=value`, a form field): a json parameter's text is then
   * read as JSON. Integer, number and boolean parameters accept text either way.
   */
  fromText?: boolean;
}

const INTEGER_TEXT = /^[+-]?\d+$/;
const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEAN_TEXT: Record<string, boolean> = {
  true: true,
  false: false,
  '1': true,
  '0': false,
  yes: true,
  no: false
};

/** Converts a run's value for one parameter to its type, or says why it cannot, naming the parameter. */
export function coerceParameterValue(
  spec: ParameterSpec,
  value: unknown,
  options: CoerceOptions = {}
): CoercionResult {
  const fail = (what: string): CoercionResult => ({
    ok: false,
    message: `parameter "${spec.name}" must be ${what}, got ${describeValue(value)}`
  });
  if (value === null || value === undefined) {
    return spec.required
      ? {
          ok: false,
          message: `parameter "${spec.name}" is required: give it a ${spec.type} value`
        }
      : { ok: true, value: null };
  }
  const text = typeof value === 'string' ? value.trim() : null;
  switch (spec.type) {
    case 'string':
      return typeof value === 'string' ? { ok: true, value } : fail('a string');
    case 'integer': {
      const n = text !== null && INTEGER_TEXT.test(text) ? Number(text) : value;
      return typeof n === 'number' && Number.isSafeInteger(n)
        ? { ok: true, value: n }
        : fail('a whole number');
    }
    case 'number': {
      const n = text !== null && NUMBER_TEXT.test(text) ? Number(text) : value;
      return typeof n === 'number' && Number.isFinite(n)
        ? { ok: true, value: n }
        : fail('a number');
    }
    case 'boolean': {
      if (typeof value === 'boolean') {
        return { ok: true, value };
      }
      const b = text !== null ? BOOLEAN_TEXT[text.toLowerCase()] : undefined;
      return b === undefined ? fail('true or false') : { ok: true, value: b };
    }
    case 'json': {
      if (options.fromText && typeof value === 'string') {
        try {
          return { ok: true, value: JSON.parse(value) };
        } catch (error) {
          return fail(
            `JSON (${error instanceof Error ? error.message : String(error)})`
          );
        }
      }
      return isJsonValue(value) ? { ok: true, value } : fail('JSON data');
    }
  }
}

export type ParameterValuesResult =
  | { ok: true; values: Record<string, unknown>; warnings: string[] }
  | { ok: false; errors: string[] };

export interface ParameterValuesOptions extends CoerceOptions {
  /**
   * Values for names the flow does not declare are kept (and a warning says so) instead of refused:
   * as papermill does for a notebook without a parameters cell, where they are injected at the top.
   */
  acceptUndeclared?: boolean;
}

/** Undeclared values are accepted exactly when the notebook has no parameters cell (papermill's rule). */
export function acceptsUndeclaredParameters(spec: {
  parametersCell?: unknown;
}): boolean {
  return spec.parametersCell === null || spec.parametersCell === undefined;
}

/**
 * Checks a run's parameter values against the specs and gives the complete values to inject: every
 * parameter, its given value converted to its type, else its default. Unknown names and missing
 * required values are errors; all errors are returned at once.
 */
export function validateParameterValues(
  specs: ParameterSpec[],
  values: unknown,
  options: ParameterValuesOptions = {}
): ParameterValuesResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (values !== undefined && values !== null && !isRecord(values)) {
    return {
      ok: false,
      errors: [
        `parameter values must be an object of name → value, got ${describeValue(values)}`
      ]
    };
  }
  const given = (values ?? {}) as Record<string, unknown>;
  const known = new Set(specs.map(spec => spec.name));
  // Undeclared values come after the declared ones, in the order given.
  const undeclared: Record<string, unknown> = {};
  for (const name of Object.keys(given)) {
    if (!known.has(name) && options.acceptUndeclared) {
      const problem = identifierProblem('Parameter name', name);
      if (problem) {
        errors.push(problem);
      } else if (name.startsWith(RESERVED_PREFIX)) {
        errors.push(
          `Parameter name "${name}" starts with ${RESERVED_PREFIX}, which Cellflow keeps for itself`
        );
      } else if (!isJsonValue(given[name])) {
        errors.push(
          `parameter "${name}" must be JSON data, got ${describeValue(given[name])}`
        );
      } else {
        undeclared[name] = given[name];
        warnings.push(
          `parameter "${name}" is not declared by the notebook (it has no parameters cell): injected at the top, as papermill does`
        );
      }
    } else if (!known.has(name)) {
      const list = specs.length
        ? `the flow's parameters are ${specs.map(s => s.name).join(', ')}`
        : 'the flow has no parameters';
      errors.push(`unknown parameter "${name}": ${list}`);
    }
  }
  const resolved: Record<string, unknown> = {};
  for (const spec of specs) {
    const has =
      Object.prototype.hasOwnProperty.call(given, spec.name) &&
      given[spec.name] !== undefined;
    const coerced = coerceParameterValue(
      spec,
      has ? given[spec.name] : spec.default,
      has ? options : {}
    );
    if (coerced.ok) {
      resolved[spec.name] = coerced.value;
    } else {
      errors.push(coerced.message);
    }
  }
  return errors.length
    ? { ok: false, errors }
    : { ok: true, values: { ...resolved, ...undeclared }, warnings };
}

/**
 * The values a run injects after the parameters cell: those that differ from the literal the cell
 * itself assigns, and every parameter the cell does not assign (declared in metadata only, or
 * undeclared). Injecting a default again would be a no-op at best and could change its Python type
 * (a tuple default comes back from JSON as a list), so the kernel ends up as papermill leaves it.
 */
export function injectedParameterValues(
  parametersCellCode: string | null,
  values: Record<string, unknown>
): Record<string, unknown> {
  const literals = new Map<string, unknown>();
  if (parametersCellCode !== null) {
    for (const assignment of parseParametersSource(parametersCellCode)
      .assignments) {
      literals.set(assignment.name, assignment.value);
    }
  }
  const injected: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) {
    if (
      !literals.has(name) ||
      JSON.stringify(literals.get(name)) !== JSON.stringify(value)
    ) {
      injected[name] = value;
    }
  }
  return injected;
}

/**
 * Python code that sets `values` as globals in the kernel. The values travel as base64 of their JSON
 * and are decoded there: no value is ever pasted into code, so no value can become code. Names must be
 * Python identifiers (validateParameterValues' output always is); anything else is a programming error.
 */
export function parameterInjectionCode(
  values: Record<string, unknown>
): string {
  for (const name of Object.keys(values)) {
    if (!isPythonIdentifier(name)) {
      throw new RangeError(
        `Cannot inject parameter "${name}": it is not a Python identifier`
      );
    }
  }
  const data = base64Encode(utf8Encode(JSON.stringify(values)));
  return (
    'import base64 as _cf_b64, json as _cf_json; ' +
    `globals().update(_cf_json.loads(_cf_b64.b64decode('${data}').decode('utf-8'))); ` +
    'del _cf_b64, _cf_json'
  );
}

/** True for data JSON can carry unchanged: null, booleans, finite numbers, strings, arrays, objects. */
export function isJsonValue(value: unknown): boolean {
  if (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean'
  ) {
    return true;
  }
  if (typeof value === 'number') {
    return Number.isFinite(value);
  }
  if (Array.isArray(value)) {
    return value.every(isJsonValue);
  }
  if (isRecord(value)) {
    const proto = Object.getPrototypeOf(value);
    return (
      (proto === Object.prototype || proto === null) &&
      Object.values(value).every(isJsonValue)
    );
  }
  return false;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
