/**
 * Runs: start one (parameters checked against the flow's spec), list and read them, cancel, retry,
 * read logs and the executed notebook. The API only writes rows and appends events; the run
 * controller, when this process has one, is told so that it acts now instead of at its next poll.
 */
import type { FastifyInstance } from 'fastify';

import {
  acceptsUndeclaredParameters,
  validateParameterValues,
  type FlowSpec
} from '../../../src/flow/index.js';
import {
  FLOW_RUN_STATES,
  isTerminalFlowRunState,
  type FlowRunState
} from '../store/states.js';
import { TransitionConflictError } from '../store/errors.js';
import {
  RUN_TRIGGERS,
  type FlowRun,
  type FlowRunDetail,
  type LogLine,
  type RunTrigger,
  type Store
} from '../store/store.js';
import { principalOf } from './auth.js';
import { waitingFor } from './waiting-for.js';
import { REFRESH_CACHE_EVENT } from '../runs/task-cache-store.js';
import type { ApiContext } from './context.js';
import { ApiError, conflict, notFound } from './errors.js';
import {
  errorResponses,
  flowRunDetailSchema,
  flowRunSchema,
  idParam,
  logLineSchema,
  MAX_EVENT_ID
} from './schemas.js';

/** The event linking a retry to the run it retries (flow runs have no metadata column). */
export const RETRY_EVENT = 'flow_run.retry';
const RETRYABLE: readonly FlowRunState[] = ['Failed', 'Crashed', 'Cancelled'];
const CANCEL_REASON = 'Cancelled by user';

type RunJson = Omit<
  FlowRun,
  'workspaceId' | 'leaseOwner' | 'leaseExpiresAt'
> & {
  retryOf?: string;
};

export function runJson(run: FlowRun, retryOf?: string | null): RunJson {
  const {
    workspaceId: _w,
    leaseOwner: _o,
    leaseExpiresAt: _e,
    ...rest
  } = run as FlowRun & Partial<FlowRunDetail>;
  const json: RunJson = { ...rest };
  if (retryOf) {
    json.retryOf = retryOf;
  }
  return json;
}

function withWaiting<T extends { id: string }>(
  json: T,
  waiting: Map<string, string>
): T & { waitingFor?: string } {
  const note = waiting.get(json.id);
  return note ? { ...json, waitingFor: note } : json;
}

function detailJson(run: FlowRunDetail, retryOf: string | null) {
  return {
    ...runJson(run, retryOf),
    taskRuns: run.taskRuns.map(({ attemptList, attempts, ...task }) => ({
      ...task,
      attemptCount: attempts,
      attempts: attemptList
    }))
  };
}

async function retryOfRun(store: Store, run: FlowRun): Promise<string | null> {
  if (run.trigger !== 'retry') {
    return null;
  }
  // The link is appended right after the run's creation event, so it is among the first few.
  const events = await store.listEvents({
    workspaceId: run.workspaceId,
    flowRunId: run.id,
    limit: 20
  });
  const link = events.find(e => e.type === RETRY_EVENT);
  return typeof link?.payload.retryOf === 'string'
    ? link.payload.retryOf
    : null;
}

/** Turns validateParameterValues' messages into one 400 naming the first parameter at fault. */
function parameterError(errors: string[]): ApiError {
  const name = /parameter "([^"]+)"/.exec(errors[0])?.[1];
  return new ApiError(400, 'bad-request', errors.join('; '), {
    field: name ? `parameters.${name}` : 'parameters',
    errors
  });
}

const runResponse = {
  type: 'object',
  properties: { run: flowRunSchema },
  required: ['run']
} as const;

/** A new run, and what was accepted with a warning (values for a notebook without a parameters cell). */
const createdRunResponse = {
  type: 'object',
  properties: {
    run: flowRunSchema,
    warnings: { type: 'array', items: { type: 'string' } }
  },
  required: ['run']
} as const;

export function registerRunRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { store, hub } = ctx;

  const requireRun = async (workspaceId: string, runId: string) => {
    const run = await store.getRun(workspaceId, runId);
    if (!run) {
      throw notFound(`Run ${runId} not found`);
    }
    return run;
  };

  app.post(
    '/api/flows/:flowId/runs',
    {
      schema: {
        summary: "Start a run of the flow's latest version now",
        params: idParam('flowId'),
        body: {
          type: ['object', 'null'],
          properties: {
            parameters: { type: 'object', additionalProperties: true },
            refreshCache: {
              type: 'boolean',
              description:
                'Skip cached task results: every task with --cache-for runs, and its result is stored afresh'
            }
          },
          additionalProperties: false
        },
        response: { 201: createdRunResponse, ...errorResponses }
      }
    },
    async (request, reply) => {
      const { workspace } = principalOf(request);
      const { flowId } = request.params as { flowId: string };
      const body = (request.body ?? {}) as {
        parameters?: Record<string, unknown>;
        refreshCache?: boolean;
      };
      const version = await store.getFlowVersion(workspace.id, flowId);
      if (!version) {
        throw notFound(`Flow ${flowId} not found`);
      }
      const spec = version.spec as FlowSpec;
      const checked = validateParameterValues(
        spec.parameters ?? [],
        body.parameters ?? {},
        { acceptUndeclared: acceptsUndeclaredParameters(spec) }
      );
      if (!checked.ok) {
        throw parameterError(checked.errors);
      }
      const run = await store.createRun({
        workspaceId: workspace.id,
        flowId,
        flowVersion: version.version,
        trigger: 'manual',
        state: 'Pending',
        parameters: checked.values
      });
      if (body.refreshCache === true) {
        await store.appendEvent({
          workspaceId: workspace.id,
          flowId: run.flowId,
          flowRunId: run.id,
          type: REFRESH_CACHE_EVENT,
          payload: {}
        });
      }
      hub.notify(workspace.id);
      ctx.runs?.wake();
      return reply.code(201).send({
        run: runJson(run),
        ...(checked.warnings.length ? { warnings: checked.warnings } : {})
      });
    }
  );

  app.get(
    '/api/runs',
    {
      schema: {
        summary: 'Runs of the workspace, newest first, a page at a time',
        querystring: {
          type: 'object',
          properties: {
            flowId: { type: 'string', minLength: 1 },
            state: {
              type: 'array',
              items: { type: 'string', enum: [...FLOW_RUN_STATES] }
            },
            // The short ids the panel and the CLI show are prefixes of the full one.
            idPrefix: { type: 'string', pattern: '^[0-9a-f-]{1,36}$' },
            trigger: {
              type: 'array',
              items: { type: 'string', enum: [...RUN_TRIGGERS] }
            },
            // A time range on when each run started, else was due, else was made: from ≤ t < to.
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
            limit: { type: 'integer', minimum: 1, maximum: 500 },
            cursor: { type: 'string', pattern: '^[0-9]{1,15}$' }
          },
          additionalProperties: false
        },
        response: {
          200: {
            type: 'object',
            properties: {
              runs: { type: 'array', items: flowRunSchema },
              nextCursor: { type: ['string', 'null'] }
            },
            required: ['runs', 'nextCursor']
          },
          ...errorResponses
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const query = request.query as {
        flowId?: string;
        state?: FlowRunState[];
        idPrefix?: string;
        trigger?: RunTrigger[];
        from?: string;
        to?: string;
        limit?: number;
        cursor?: string;
      };
      if (query.flowId && !(await store.getFlow(workspace.id, query.flowId))) {
        throw notFound(`Flow ${query.flowId} not found`);
      }
      const page = await store.listRuns({
        workspaceId: workspace.id,
        flowId: query.flowId,
        state: query.state,
        idPrefix: query.idPrefix,
        trigger: query.trigger,
        from: query.from === undefined ? undefined : new Date(query.from),
        to: query.to === undefined ? undefined : new Date(query.to),
        limit: query.limit,
        cursor: query.cursor
      });
      const waiting = await waitingFor(store, workspace.id, page.runs);
      return {
        runs: page.runs.map(r => withWaiting(runJson(r), waiting)),
        nextCursor: page.nextCursor
      };
    }
  );

  app.get(
    '/api/runs/:runId',
    {
      schema: {
        summary:
          'A run with its task runs and their attempts (outputs included)',
        params: idParam('runId'),
        response: {
          200: {
            type: 'object',
            properties: { run: flowRunDetailSchema },
            required: ['run']
          },
          ...errorResponses
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const { runId } = request.params as { runId: string };
      const run = await requireRun(workspace.id, runId);
      const waiting = await waitingFor(store, workspace.id, [run]);
      return {
        run: withWaiting(detailJson(run, await retryOfRun(store, run)), waiting)
      };
    }
  );

  app.post(
    '/api/runs/:runId/cancel',
    {
      schema: {
        summary:
          'Cancel a run: at once if it has not started, else by interrupting it',
        params: idParam('runId'),
        response: {
          200: runResponse,
          ...errorResponses,
          409: errorResponses[400]
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const { runId } = request.params as { runId: string };
      // A worker may claim the run between our read and our write: then read again and act on what it is now.
      for (let tries = 0; tries < 3; tries++) {
        const run: FlowRun = await requireRun(workspace.id, runId);
        if (isTerminalFlowRunState(run.state)) {
          throw conflict(`Run ${runId} has already ended (${run.state})`);
        }
        if (run.state === 'Running' && (await ctx.runs?.cancel(runId))) {
          // This process runs it: the run service ends it Cancelled and appends the events.
          return { run: runJson(run) };
        }
        // Not started yet, or running elsewhere: the owner finds its run Cancelled at its next write or
        // lease renewal and stops.
        try {
          const cancelled = await store.transitionRun(runId, 'Cancelled', {
            from: run.state,
            reason: CANCEL_REASON
          });
          hub.notify(workspace.id);
          return { run: runJson(cancelled) };
        } catch (error) {
          if (!(error instanceof TransitionConflictError)) {
            throw error;
          }
        }
      }
      throw conflict(`Run ${runId} kept changing state; try again`);
    }
  );

  app.post(
    '/api/runs/:runId/retry',
    {
      schema: {
        summary:
          'Start a new run with the same version and parameters as a failed, crashed or cancelled run',
        params: idParam('runId'),
        response: {
          201: runResponse,
          ...errorResponses,
          409: errorResponses[400]
        }
      }
    },
    async (request, reply) => {
      const { workspace } = principalOf(request);
      const { runId } = request.params as { runId: string };
      const original = await requireRun(workspace.id, runId);
      if (!RETRYABLE.includes(original.state)) {
        throw conflict(
          `Run ${runId} is ${original.state}: only ${RETRYABLE.join(', ')} runs can be retried`
        );
      }
      const run = await store.createRun({
        workspaceId: workspace.id,
        flowId: original.flowId,
        flowVersion: original.flowVersion,
        trigger: 'retry',
        state: 'Pending',
        parameters: original.parameters
      });
      await store.appendEvent({
        workspaceId: workspace.id,
        flowId: run.flowId,
        flowRunId: run.id,
        type: RETRY_EVENT,
        payload: { retryOf: original.id }
      });
      hub.notify(workspace.id);
      ctx.runs?.wake();
      return reply.code(201).send({ run: runJson(run, original.id) });
    }
  );

  app.get(
    '/api/runs/:runId/logs',
    {
      schema: {
        summary:
          "A run's log lines in order, optionally one task's, after a line id",
        params: idParam('runId'),
        querystring: {
          type: 'object',
          properties: {
            task: { type: 'string', minLength: 1 },
            after: { type: 'integer', minimum: 0, maximum: MAX_EVENT_ID },
            limit: { type: 'integer', minimum: 1, maximum: 5000 }
          },
          additionalProperties: false
        },
        response: {
          200: {
            type: 'object',
            properties: { lines: { type: 'array', items: logLineSchema } },
            required: ['lines']
          },
          ...errorResponses
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const { runId } = request.params as { runId: string };
      const query = request.query as {
        task?: string;
        after?: number;
        limit?: number;
      };
      await requireRun(workspace.id, runId);
      const lines = await store.listLogLines(workspace.id, runId, {
        taskName: query.task,
        afterId: query.after,
        limit: query.limit
      });
      return { lines: lines.map(logLineJson) };
    }
  );

  app.get(
    '/api/runs/:runId/notebook',
    {
      schema: {
        summary: 'The executed notebook of a run, as an .ipynb download',
        params: idParam('runId'),
        response: {
          200: {
            content: {
              'application/x-ipynb+json': {
                schema: { type: 'object', description: 'nbformat 4 JSON' }
              }
            }
          },
          ...errorResponses
        }
      }
    },
    async (request, reply) => {
      const { workspace } = principalOf(request);
      const { runId } = request.params as { runId: string };
      const run = await requireRun(workspace.id, runId);
      const notebook = await store.getExecutedNotebook(workspace.id, runId);
      if (notebook === null) {
        throw notFound(
          `Run ${runId} has no executed notebook yet (it is ${run.state})`
        );
      }
      const flow = await store.getFlow(workspace.id, run.flowId);
      const base = (flow?.name ?? 'flow').replace(/[^A-Za-z0-9._-]+/g, '_');
      return reply
        .header('content-type', 'application/x-ipynb+json')
        .header(
          'content-disposition',
          `attachment; filename="${base}-${runId.slice(0, 8)}.ipynb"`
        )
        .send(JSON.stringify(notebook));
    }
  );
}

function logLineJson(line: LogLine) {
  return {
    id: line.id,
    task: line.taskName,
    attempt: line.attempt,
    stream: line.stream,
    text: line.text,
    at: line.at
  };
}
