/**
 * A FlowSpec deployed as JSON instead of a notebook (the CLI or a script built it). The body schema
 * checks its shape; this checks what a schema cannot (names, references, order) with the flow
 * package's own rules, and recomputes the hash, which the server owns.
 */
import {
  FLOW_SPEC_VERSION,
  PARAMETER_TYPES,
  identifierProblem,
  orderTasks,
  specHash,
  type FlowProblem,
  type FlowSpec
} from '../../../src/flow/index.js';
import { LIMITS, limitSchema } from '../../../src/flow/limits.js';

const setupCellSchema = {
  type: 'object',
  properties: {
    cellId: { type: 'string' },
    cellIndex: { type: 'integer', minimum: 0 },
    code: { type: 'string' }
  },
  required: ['cellId', 'cellIndex', 'code']
} as const;

export const flowSpecSchema = {
  type: 'object',
  properties: {
    version: { type: 'integer', enum: [FLOW_SPEC_VERSION] },
    name: { type: 'string', minLength: 1 },
    parameters: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          type: { type: 'string', enum: [...PARAMETER_TYPES] },
          default: {},
          required: { type: 'boolean' },
          description: { type: 'string' }
        },
        required: ['name', 'type', 'required']
      }
    },
    parametersCell: { anyOf: [setupCellSchema, { type: 'null' }] },
    tasks: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          cellId: { type: 'string' },
          cellIndex: { type: 'integer', minimum: 0 },
          code: { type: 'string' },
          setup: { type: 'array', items: setupCellSchema },
          // A task of several cells (a notebook without %%task cells runs as one).
          cells: { type: 'array', items: setupCellSchema },
          upstream: { type: 'array', items: { type: 'string' } },
          // The bounds of src/flow/limits.ts, as the compiler checks them in a notebook.
          retries: limitSchema(LIMITS.retries),
          retryDelay: limitSchema(LIMITS.retryDelay),
          backoff: limitSchema(LIMITS.backoff),
          timeout: {
            ...limitSchema(LIMITS.timeout),
            type: ['number', 'null']
          }
        },
        required: [
          'name',
          'cellId',
          'cellIndex',
          'code',
          'setup',
          'upstream',
          'retries',
          'retryDelay',
          'backoff',
          'timeout'
        ]
      }
    },
    teardown: { type: 'array', items: setupCellSchema },
    hash: { type: 'string' }
  },
  required: [
    'version',
    'name',
    'parameters',
    'parametersCell',
    'tasks',
    'teardown'
  ]
} as const;

/** Problems with a schema-valid spec, each naming its task or parameter; and the spec with its hash set. */
export function checkFlowSpec(spec: FlowSpec): {
  problems: FlowProblem[];
  spec: FlowSpec;
} {
  const problems: FlowProblem[] = [];
  const seen = new Set<string>();
  for (const parameter of spec.parameters) {
    const problem = identifierProblem('Parameter name', parameter.name);
    if (problem) {
      problems.push({ code: 'invalid-parameter-name', message: problem });
    }
    if (seen.has(parameter.name)) {
      problems.push({
        code: 'duplicate-parameter',
        message: `Parameter "${parameter.name}" is declared twice`
      });
    }
    seen.add(parameter.name);
  }
  const taskNames = new Set<string>();
  spec.tasks.forEach(task => {
    const problem = identifierProblem('Task name', task.name);
    if (problem) {
      problems.push({
        code: 'invalid-task-name',
        message: problem,
        taskName: task.name
      });
    }
    if (taskNames.has(task.name)) {
      problems.push({
        code: 'duplicate-task-name',
        message: `Task "${task.name}" is declared twice`,
        taskName: task.name
      });
    }
    taskNames.add(task.name);
  });
  spec.tasks.forEach((task, i) => {
    for (const up of task.upstream) {
      if (!taskNames.has(up)) {
        problems.push({
          code: 'unknown-dependency',
          message: `Task "${task.name}" runs after "${up}", which is not a task of this flow`,
          taskName: task.name
        });
      } else if (!spec.tasks.slice(0, i).some(t => t.name === up)) {
        problems.push({
          code: 'task-order',
          message: `Task "${task.name}" runs after "${up}", which must come before it in the tasks list`,
          taskName: task.name
        });
      }
    }
  });
  for (const cycle of orderTasks(spec.tasks).cycles) {
    problems.push({
      code: 'dependency-cycle',
      message: `Tasks depend on each other in a cycle: ${cycle.join(' → ')}`,
      taskName: cycle[0]
    });
  }
  return { problems, spec: { ...spec, hash: specHash(spec) } };
}
