/**
 * Schedules: create, list, change (pause/resume included), delete, preview; and a flow's overlap
 * policy. The schedule maths are src/flow's (validateSchedule, nextRuns, describeSchedule,
 * previewSchedule); the store validates again before it writes. After a change the scheduler of this
 * process is nudged to plan now; the not-started runs of the old timing are already gone.
 */
import type { FastifyInstance } from 'fastify';

import {
  acceptsUndeclaredParameters,
  validateParameterValues,
  type FlowSpec
} from '../../../src/flow/index.js';
import { LIMITS } from '../../../src/flow/limits.js';
import {
  canonicalTimeZone,
  describeSchedule,
  nextRuns,
  previewSchedule,
  validateSchedule
} from '../../../src/flow/schedule.js';
import { schedulesChanged } from '../scheduler/signal.js';
import {
  InvalidScheduleError,
  ScheduleConflictError,
  checkScheduleInput
} from '../store/sql/schedules.js';
import type { Flow, OverlapPolicy, Schedule, Store } from '../store/store.js';
import { principalOf } from './auth.js';
import type { ApiContext } from './context.js';
import { ApiError, badRequest, conflict, notFound } from './errors.js';
import {
  dateTime,
  errorResponses,
  idParam,
  overlapSchema,
  scheduleSchema
} from './schemas.js';

/** How many upcoming runs a schedule shows. */
const NEXT_RUNS = 5;

/** What a client sends: validateSchedule names unknown or bad fields, so the schema stays open. */
const scheduleInputSchema = {
  type: 'object',
  properties: {
    kind: { type: 'string', enum: ['interval', 'cron'] },
    // Seconds, or a duration such as "10s" (validateSchedule reads both and names a bad one).
    every: {
      anyOf: [
        {
          type: 'integer',
          minimum: LIMITS.every.min,
          maximum: LIMITS.every.max
        },
        { type: 'string', maxLength: 64 }
      ]
    },
    anchor: { type: 'string' },
    expression: { type: 'string' },
    timezone: { type: 'string' },
    start: { type: 'string' },
    end: { type: 'string' },
    paused: { type: 'boolean' },
    parameters: { type: 'object', additionalProperties: true },
    missedPolicy: { type: 'string', enum: ['skip', 'latest', 'all'] }
  },
  additionalProperties: true
} as const;

const scheduleResponse = {
  type: 'object',
  properties: { schedule: scheduleSchema },
  required: ['schedule']
} as const;

/**
 * A stored schedule as the API shows it. Never throws: a row the checks of today refuse (written
 * before a bound existed, or by hand) is shown with its bad fields left out, no next runs and
 * `problems` naming them, so one bad row cannot break a listing.
 */
export function scheduleJson(schedule: Schedule, now: Date = new Date()) {
  const checked = validateSchedule({ ...schedule.spec });
  const problems = checked.ok ? [] : checked.problems;
  const bad = new Set(problems.map(p => p.field));
  const timing = Object.fromEntries(
    Object.entries(schedule.spec as unknown as Record<string, unknown>).filter(
      ([key]) => !bad.has(key)
    )
  );
  let description = `a ${String(schedule.spec.kind)} schedule that cannot run: ${problems.map(p => p.message).join('; ')}`;
  let runs: string[] = [];
  if (checked.ok) {
    try {
      description = describeSchedule(schedule.spec);
      runs = schedule.paused
        ? []
        : nextRuns(schedule.spec, { after: now, count: NEXT_RUNS })
            .filter(d => Number.isFinite(d.getTime()))
            .map(d => d.toISOString());
    } catch (error) {
      problems.push({
        field: 'schedule',
        message: `its run times cannot be computed: ${(error as Error).message}`
      });
      description = `a ${schedule.spec.kind} schedule whose run times cannot be computed`;
      runs = [];
    }
  }
  return {
    id: schedule.id,
    flowId: schedule.flowId,
    ...timing,
    kind: schedule.spec.kind === 'cron' ? 'cron' : 'interval',
    paused: schedule.paused,
    parameters: schedule.parameters,
    missedPolicy: schedule.missedPolicy,
    description,
    nextRuns: runs,
    ...(problems.length > 0 && { problems }),
    revision: schedule.revision,
    createdAt: schedule.createdAt,
    updatedAt: schedule.updatedAt
  };
}

const overlapJson = (flow: Flow) => ({
  overlap: flow.overlap,
  maxConcurrent: flow.maxConcurrent
});

function invalidSchedule(error: InvalidScheduleError): ApiError {
  return new ApiError(400, 'bad-request', error.message, {
    field: error.field,
    problems: error.problems
  });
}

/** Store errors of this area as API errors; anything else goes on to the shared handler. */
function mapError(error: unknown): never {
  if (error instanceof InvalidScheduleError) {
    throw invalidSchedule(error);
  }
  if (error instanceof ScheduleConflictError) {
    throw conflict(error.message);
  }
  throw error;
}

/** The schedule's parameters against the flow's latest version: 400 naming the parameter. */
async function checkParameters(
  store: Store,
  workspaceId: string,
  flowId: string,
  parameters: unknown
): Promise<void> {
  const version = await store.getFlowVersion(workspaceId, flowId);
  if (!version) {
    throw notFound(`Flow ${flowId} not found`);
  }
  const spec = version.spec as FlowSpec;
  const checked = validateParameterValues(
    spec.parameters ?? [],
    parameters ?? {},
    { acceptUndeclared: acceptsUndeclaredParameters(spec) }
  );
  if (!checked.ok) {
    const name = /parameter "([^"]+)"/.exec(checked.errors[0])?.[1];
    throw new ApiError(400, 'bad-request', checked.errors.join('; '), {
      field: name ? `parameters.${name}` : 'parameters',
      errors: checked.errors
    });
  }
}

/** The stored schedule as input again, so a PATCH can change some fields and keep the rest. */
function inputOf(schedule: Schedule): Record<string, unknown> {
  return {
    ...schedule.spec,
    paused: schedule.paused,
    parameters: schedule.parameters,
    missedPolicy: schedule.missedPolicy
  };
}

/** Fields of `patch` over `current`; null removes a field; a new kind keeps only the common fields. */
export function mergeSchedule(
  current: Record<string, unknown>,
  patch: Record<string, unknown>
): Record<string, unknown> {
  const base: Record<string, unknown> =
    patch.kind !== undefined && patch.kind !== current.kind
      ? {
          paused: current.paused,
          parameters: current.parameters,
          missedPolicy: current.missedPolicy
        }
      : { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete base[key];
    } else {
      base[key] = value;
    }
  }
  return base;
}

export function registerScheduleRoutes(
  app: FastifyInstance,
  ctx: ApiContext
): void {
  const { store, hub } = ctx;
  const changed = (workspaceId: string) => {
    hub.notify(workspaceId);
    schedulesChanged(store);
  };

  app.post(
    '/api/flows/:flowId/schedules',
    {
      schema: {
        summary:
          'Add a schedule to a flow: interval (every, anchor) or cron (expression, timezone)',
        params: idParam('flowId'),
        body: scheduleInputSchema,
        response: { 201: scheduleResponse, ...errorResponses }
      }
    },
    async (request, reply) => {
      const { workspace } = principalOf(request);
      const { flowId } = request.params as { flowId: string };
      const body = request.body as Record<string, unknown>;
      try {
        checkScheduleInput(body);
      } catch (error) {
        mapError(error);
      }
      await checkParameters(store, workspace.id, flowId, body.parameters);
      const schedule = await store
        .createSchedule(workspace.id, flowId, body)
        .catch(mapError);
      changed(workspace.id);
      return reply.code(201).send({ schedule: scheduleJson(schedule) });
    }
  );

  app.get(
    '/api/flows/:flowId/schedules',
    {
      schema: {
        summary: "A flow's schedules and its overlap policy",
        params: idParam('flowId'),
        response: {
          200: {
            type: 'object',
            properties: {
              schedules: { type: 'array', items: scheduleSchema },
              overlap: overlapSchema
            },
            required: ['schedules', 'overlap']
          },
          ...errorResponses
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const { flowId } = request.params as { flowId: string };
      const flow = await store.getFlow(workspace.id, flowId);
      if (!flow) {
        throw notFound(`Flow ${flowId} not found`);
      }
      const schedules = await store.listSchedules(workspace.id, flowId);
      const now = new Date();
      return {
        schedules: schedules.map(s => scheduleJson(s, now)),
        overlap: overlapJson(flow)
      };
    }
  );

  app.get(
    '/api/schedules/:scheduleId',
    {
      schema: {
        summary: 'A schedule with its description and next runs',
        params: idParam('scheduleId'),
        response: { 200: scheduleResponse, ...errorResponses }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const { scheduleId } = request.params as { scheduleId: string };
      const schedule = await store.getSchedule(workspace.id, scheduleId);
      if (!schedule) {
        throw notFound(`Schedule ${scheduleId} not found`);
      }
      return { schedule: scheduleJson(schedule) };
    }
  );

  app.patch(
    '/api/schedules/:scheduleId',
    {
      schema: {
        summary:
          'Change a schedule (the given fields; null removes one), pause or resume it: its not-started runs are removed and planned anew',
        params: idParam('scheduleId'),
        body: {
          type: 'object',
          properties: {
            ...scheduleInputSchema.properties,
            anchor: { type: ['string', 'null'] },
            start: { type: ['string', 'null'] },
            end: { type: ['string', 'null'] }
          },
          additionalProperties: true
        },
        response: {
          200: {
            type: 'object',
            properties: {
              schedule: scheduleSchema,
              removedRuns: { type: 'array', items: { type: 'string' } }
            },
            required: ['schedule', 'removedRuns']
          },
          ...errorResponses,
          409: errorResponses[400]
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const { scheduleId } = request.params as { scheduleId: string };
      const patch = request.body as Record<string, unknown>;
      const current = await store.getSchedule(workspace.id, scheduleId);
      if (!current) {
        throw notFound(`Schedule ${scheduleId} not found`);
      }
      const merged = mergeSchedule(inputOf(current), patch);
      try {
        checkScheduleInput(merged);
      } catch (error) {
        mapError(error);
      }
      if (patch.parameters !== undefined) {
        await checkParameters(
          store,
          workspace.id,
          current.flowId,
          merged.parameters
        );
      }
      const change = await store
        .updateSchedule(workspace.id, scheduleId, merged, {
          expectedRevision: current.revision
        })
        .catch(mapError);
      changed(workspace.id);
      return {
        schedule: scheduleJson(change.schedule),
        removedRuns: change.removedRuns
      };
    }
  );

  app.delete(
    '/api/schedules/:scheduleId',
    {
      schema: {
        summary:
          'Delete a schedule and its not-started runs (runs that started stay)',
        params: idParam('scheduleId'),
        response: { 204: { type: 'null' }, ...errorResponses }
      }
    },
    async (request, reply) => {
      const { workspace } = principalOf(request);
      const { scheduleId } = request.params as { scheduleId: string };
      if (!(await store.deleteSchedule(workspace.id, scheduleId))) {
        throw notFound(`Schedule ${scheduleId} not found`);
      }
      changed(workspace.id);
      return reply.code(204).send();
    }
  );

  app.post(
    '/api/schedules/preview',
    {
      schema: {
        summary:
          "A schedule's description and next runs, in its zone and the viewer's (nothing is stored)",
        body: {
          type: 'object',
          properties: {
            schedule: scheduleInputSchema,
            from: dateTime,
            count: { type: 'integer', minimum: 1, maximum: 100 },
            viewerZone: { type: 'string', minLength: 1 }
          },
          required: ['schedule'],
          additionalProperties: false
        },
        response: {
          200: {
            type: 'object',
            properties: {
              description: { type: 'string' },
              timezone: { type: 'string' },
              viewerZone: { type: 'string' },
              runs: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    at: { type: 'string' },
                    local: { type: 'string' },
                    viewer: { type: 'string' },
                    note: { type: 'string' }
                  },
                  required: ['at', 'local', 'viewer']
                }
              }
            },
            required: ['description', 'timezone', 'viewerZone', 'runs']
          },
          ...errorResponses
        }
      }
    },
    async request => {
      const body = request.body as {
        schedule: unknown;
        from?: string;
        count?: number;
        viewerZone?: string;
      };
      let schedule;
      try {
        schedule = checkScheduleInput(body.schedule);
      } catch (error) {
        if (error instanceof InvalidScheduleError) {
          const problem = invalidSchedule(error);
          throw new ApiError(400, 'bad-request', problem.message, {
            ...problem.extra,
            field: `schedule.${error.field}`
          });
        }
        throw error;
      }
      const viewerZone = body.viewerZone ?? 'UTC';
      if (canonicalTimeZone(viewerZone) === null) {
        throw badRequest(
          `unknown time zone '${viewerZone}' (use an IANA name such as Europe/Berlin)`,
          'viewerZone'
        );
      }
      return previewSchedule(schedule, {
        from: body.from ? new Date(body.from) : new Date(),
        count: body.count ?? NEXT_RUNS,
        viewerZone
      });
    }
  );

  app.patch(
    '/api/flows/:flowId/overlap',
    {
      schema: {
        summary:
          "What a scheduled run does while the flow's runs are active: queue (wait), skip, or parallel (up to maxConcurrent)",
        params: idParam('flowId'),
        body: {
          type: 'object',
          properties: overlapSchema.properties,
          required: ['overlap'],
          additionalProperties: false
        },
        response: { 200: overlapSchema, ...errorResponses }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const { flowId } = request.params as { flowId: string };
      const body = request.body as {
        overlap: OverlapPolicy;
        maxConcurrent?: number | null;
      };
      const flow = await store.setFlowOverlap(
        workspace.id,
        flowId,
        body.overlap,
        body.maxConcurrent ?? null
      );
      changed(workspace.id);
      return overlapJson(flow);
    }
  );
}
