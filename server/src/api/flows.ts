/**
 * Flows: deploy (a notebook compiled here, or a spec), list, read, pause and delete. Each deploy of a
 * name adds an immutable version; runs keep pointing at the version they started from.
 */
import type { FastifyInstance } from 'fastify';

import {
  compileNotebook,
  type FlowProblem,
  type FlowSpec
} from '../../../src/flow/index.js';
import {
  FLOW_RETRIES_MAX,
  POOL_NAME,
  FLOW_RETRY_DELAY_MAX,
  type Flow,
  type FlowRetrySettings,
  type FlowVersion
} from '../store/store.js';
import { principalOf } from './auth.js';
import type { ApiContext } from './context.js';
import { ApiError, badRequest, notFound } from './errors.js';
import { checkFlowSpec, flowSpecSchema } from './flow-spec.js';
import {
  errorResponses,
  flowSchema,
  flowVersionSchema,
  idParam
} from './schemas.js';
import { nextRunTimes } from '../scheduler/next-runs.js';

export const DEFAULT_KERNEL_NAME = 'python3';

interface DeployBody {
  name: string;
  notebook?: unknown;
  spec?: FlowSpec;
  kernelName?: string;
}

const flowAndVersion = {
  type: 'object',
  properties: {
    flow: flowSchema,
    version: flowVersionSchema,
    warnings: {
      type: 'array',
      items: { type: 'object', additionalProperties: true }
    }
  },
  required: ['flow', 'version']
} as const;

export function flowJson(flow: Flow) {
  const { workspaceId: _workspace, ...rest } = flow;
  return rest;
}

export function versionJson(version: FlowVersion) {
  return {
    version: version.version,
    spec: version.spec,
    kernelName: version.kernelName,
    createdAt: version.createdAt
  };
}

function invalidFlow(problems: FlowProblem[]): ApiError {
  const first = problems[0];
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return new ApiError(
    400,
    'invalid-flow',
    `The flow has ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${first.message}${more}`,
    { problems }
  );
}

/** The answer of the routes that change one flow's settings: the flow as it now is. */
const oneFlowResponse = {
  type: 'object',
  properties: { flow: flowSchema },
  required: ['flow']
} as const;

export function registerFlowRoutes(
  app: FastifyInstance,
  ctx: ApiContext
): void {
  const { store } = ctx;

  app.post(
    '/api/flows',
    {
      schema: {
        summary:
          'Deploy a flow: a new flow, or the next version of the flow of that name',
        body: {
          type: 'object',
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            notebook: { type: 'object', description: 'nbformat 4 JSON' },
            spec: flowSpecSchema,
            kernelName: {
              type: 'string',
              minLength: 1,
              maxLength: 200,
              pattern: '^[A-Za-z0-9._-]+$'
            }
          },
          required: ['name'],
          additionalProperties: false
        },
        response: { 201: flowAndVersion, ...errorResponses }
      }
    },
    async (request, reply) => {
      const { workspace } = principalOf(request);
      const body = request.body as DeployBody;
      if (body.name.trim() === '') {
        throw badRequest('body field "name" must not be blank', 'name');
      }
      const hasNotebook = body.notebook !== undefined;
      const hasSpec = body.spec !== undefined;
      if (hasNotebook === hasSpec) {
        throw badRequest(
          'Give exactly one of "notebook" (nbformat JSON) or "spec" (a compiled flow spec)',
          hasNotebook ? 'spec' : 'notebook'
        );
      }
      let spec: FlowSpec;
      let warnings: FlowProblem[] = [];
      if (hasNotebook) {
        const compiled = compileNotebook(body.notebook, { name: body.name });
        if (!compiled.ok) {
          throw invalidFlow(compiled.problems);
        }
        spec = compiled.spec;
        warnings = compiled.warnings;
      } else {
        const checked = checkFlowSpec(body.spec!);
        if (checked.problems.length) {
          throw invalidFlow(checked.problems);
        }
        spec = checked.spec;
      }
      const { flow, version } = await store.deployFlow({
        workspaceId: workspace.id,
        name: body.name,
        spec,
        // A spec deploy has no notebook; the column holds JSON, so an empty object says "none".
        notebook: hasNotebook ? body.notebook : {},
        kernelName:
          body.kernelName ??
          (hasNotebook ? notebookKernelName(body.notebook) : null) ??
          DEFAULT_KERNEL_NAME
      });
      ctx.hub.notify(workspace.id);
      return reply.code(201).send({
        flow: flowJson(flow),
        version: versionJson(version),
        warnings
      });
    }
  );

  app.get(
    '/api/flows',
    {
      schema: {
        summary: 'The flows of the workspace, by name',
        response: {
          200: {
            type: 'object',
            properties: { flows: { type: 'array', items: flowSchema } },
            required: ['flows']
          },
          ...errorResponses
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const flows = await store.listFlows(workspace.id);
      const next = await nextRunTimes(store, workspace.id);
      return {
        flows: flows.map(flow => ({
          ...flowJson(flow),
          nextRunAt: flow.paused ? null : (next.get(flow.id) ?? null)
        }))
      };
    }
  );

  app.get(
    '/api/flows/:flowId',
    {
      schema: {
        summary: 'A flow with its latest version',
        params: idParam('flowId'),
        response: { 200: flowAndVersion, ...errorResponses }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const { flowId } = request.params as { flowId: string };
      const flow = await store.getFlow(workspace.id, flowId);
      const version = flow
        ? await store.getFlowVersion(workspace.id, flowId)
        : null;
      if (!flow || !version) {
        throw notFound(`Flow ${flowId} not found`);
      }
      return { flow: flowJson(flow), version: versionJson(version) };
    }
  );

  app.patch(
    '/api/flows/:flowId',
    {
      schema: {
        summary: 'Pause or resume a flow (its schedules)',
        params: idParam('flowId'),
        body: {
          type: 'object',
          properties: { paused: { type: 'boolean' } },
          additionalProperties: false
        },
        response: {
          200: oneFlowResponse,
          ...errorResponses
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const { flowId } = request.params as { flowId: string };
      const body = (request.body ?? {}) as { paused?: boolean };
      let flow: Flow | null;
      if (body.paused === undefined) {
        flow = await store.getFlow(workspace.id, flowId);
      } else {
        flow = await store.setFlowPaused(workspace.id, flowId, body.paused);
        ctx.hub.notify(workspace.id);
      }
      if (!flow) {
        throw notFound(`Flow ${flowId} not found`);
      }
      return { flow: flowJson(flow) };
    }
  );

  app.patch(
    '/api/flows/:flowId/settings',
    {
      schema: {
        summary:
          "A flow's settings: automatic retries of crashed runs (the process or the kernel died, not the code: at most `retries` per run, each `retryDelay` seconds after the crash), and the work `pool` whose workers execute its runs",
        params: idParam('flowId'),
        body: {
          type: 'object',
          properties: {
            retries: { type: 'integer', minimum: 0, maximum: FLOW_RETRIES_MAX },
            pool: { type: 'string', pattern: POOL_NAME.source },
            retryDelay: {
              type: 'integer',
              minimum: 0,
              maximum: FLOW_RETRY_DELAY_MAX
            }
          },
          additionalProperties: false
        },
        response: {
          200: oneFlowResponse,
          ...errorResponses
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const { flowId } = request.params as { flowId: string };
      const body = (request.body ?? {}) as FlowRetrySettings;
      const flow = await store.setFlowRetries(workspace.id, flowId, body);
      ctx.hub.notify(workspace.id);
      return { flow: flowJson(flow) };
    }
  );

  app.delete(
    '/api/flows/:flowId',
    {
      schema: {
        summary: 'Delete a flow with its versions, schedules and runs',
        params: idParam('flowId'),
        response: { 204: { type: 'null' }, ...errorResponses }
      }
    },
    async (request, reply) => {
      const { workspace } = principalOf(request);
      const { flowId } = request.params as { flowId: string };
      // Its runs executing in this process are cancelled first, and their end written, so none goes on
      // writing to rows deleted under it. Runs executing elsewhere find them gone (their end is lost).
      const runs = ctx.runs;
      if (runs) {
        const { runs: running } = await store.listRuns({
          workspaceId: workspace.id,
          flowId,
          state: 'Running',
          limit: 500
        });
        await Promise.all(
          running.map(async run => {
            if (await runs.cancel(run.id)) {
              await runs.whenEnded?.(run.id);
            }
          })
        );
      }
      if (!(await store.deleteFlow(workspace.id, flowId))) {
        throw notFound(`Flow ${flowId} not found`);
      }
      ctx.hub.notify(workspace.id);
      return reply.code(204).send();
    }
  );
}

/** The notebook's own kernelspec (`metadata.kernelspec.name`), which its runs are for. */
function notebookKernelName(notebook: unknown): string | null {
  const metadata = (
    notebook as { metadata?: { kernelspec?: { name?: unknown } } }
  )?.metadata;
  const name = metadata?.kernelspec?.name;
  // jupyter_client's kernelspec name rule; anything else cannot name an installed kernel.
  return typeof name === 'string' && /^[A-Za-z0-9._-]{1,100}$/.test(name)
    ? name
    : null;
}
