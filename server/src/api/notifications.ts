/**
 * Notification rules and deliveries over the API, always in the key's workspace. A destination's URL,
 * signing secret or address goes in and never comes out: rules and deliveries show it masked.
 */
import type { FastifyInstance } from 'fastify';

import {
  DELIVERY_STATES,
  NOTIFICATION_EVENTS,
  NOTIFICATION_KINDS,
  type DeliveryState,
  type NotificationKind
} from '../../../src/flow/notification-kinds.js';
import type { NotificationService } from '../notifications/service.js';
import {
  InvalidTargetError,
  MAX_EMAIL_LENGTH,
  MAX_SECRET_LENGTH,
  MAX_URL_LENGTH
} from '../notifications/targets.js';
import type {
  NotificationDelivery,
  NotificationRule,
  Store
} from '../store/store.js';
import { principalOf } from './auth.js';
import { ApiError, badRequest, errorSchema, notFound } from './errors.js';
import {
  errorResponses,
  idParam,
  notificationDeliverySchema,
  notificationRuleSchema
} from './schemas.js';

interface NewRuleBody {
  flowId?: string | null;
  events: string[];
  kind: NotificationKind;
  url?: string;
  secret?: string;
  email?: string;
}

const unavailable = { ...errorResponses, 503: errorSchema } as const;

export function ruleJson(rule: NotificationRule) {
  return {
    id: rule.id,
    flowId: rule.flowId,
    events: rule.events,
    kind: rule.kind,
    target: rule.targetMasked,
    createdAt: rule.createdAt
  };
}

export function deliveryJson(d: NotificationDelivery) {
  return {
    id: d.id,
    ruleId: d.ruleId,
    kind: d.kind,
    target: d.targetMasked,
    flowId: d.flowId,
    flowRunId: d.flowRunId,
    event: d.event,
    state: d.state,
    attempts: d.attempts,
    // Only a delivery still waiting has a next attempt.
    nextAttemptAt: d.state === 'Pending' ? d.nextAttemptAt : null,
    lastError: d.lastError,
    failures: d.failures,
    createdAt: d.createdAt,
    deliveredAt: d.deliveredAt
  };
}

export function registerNotificationRoutes(
  app: FastifyInstance,
  store: Store,
  notifications: NotificationService | undefined
): void {
  const service = (): NotificationService => {
    if (!notifications) {
      throw new ApiError(
        503,
        'unavailable',
        'This server was started without workspace secrets (no secrets key): notification destinations cannot be kept'
      );
    }
    return notifications;
  };

  app.get(
    '/api/notifications/rules',
    {
      schema: {
        summary:
          "The workspace's notification rules, destinations masked (only a flow's with flowId)",
        querystring: {
          type: 'object',
          properties: {
            flowId: { type: 'string', minLength: 1, maxLength: 200 }
          },
          additionalProperties: false
        },
        response: {
          200: {
            type: 'object',
            properties: {
              rules: { type: 'array', items: notificationRuleSchema }
            },
            required: ['rules']
          },
          ...errorResponses
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const { flowId } = request.query as { flowId?: string };
      const rules = await store.listNotificationRules(workspace.id, flowId);
      return { rules: rules.map(ruleJson) };
    }
  );

  app.post(
    '/api/notifications/rules',
    {
      schema: {
        summary:
          'Add a rule: which run events of a flow (or of every flow) go to a Slack webhook, a signed webhook or an e-mail address',
        body: {
          type: 'object',
          properties: {
            flowId: {
              type: ['string', 'null'],
              minLength: 1,
              maxLength: 200,
              description: 'null or absent: every flow of the workspace'
            },
            events: {
              type: 'array',
              minItems: 1,
              maxItems: NOTIFICATION_EVENTS.length,
              items: { type: 'string', enum: [...NOTIFICATION_EVENTS] }
            },
            kind: { type: 'string', enum: [...NOTIFICATION_KINDS] },
            url: {
              type: 'string',
              maxLength: MAX_URL_LENGTH,
              description: 'slack and webhook: where to POST'
            },
            secret: {
              type: 'string',
              maxLength: MAX_SECRET_LENGTH,
              description:
                'webhook: signs each body (HMAC-SHA256 in X-Cellflow-Signature-256)'
            },
            email: {
              type: 'string',
              maxLength: MAX_EMAIL_LENGTH,
              description: 'email: the address'
            }
          },
          required: ['events', 'kind'],
          additionalProperties: false
        },
        response: { 201: notificationRuleSchema, ...unavailable }
      }
    },
    async (request, reply) => {
      const { workspace } = principalOf(request);
      const body = request.body as NewRuleBody;
      const flowId = body.flowId ?? null;
      if (flowId && !(await store.getFlow(workspace.id, flowId))) {
        throw badRequest(`Flow ${flowId} not found`, 'flowId');
      }
      try {
        const rule = await service().addRule(workspace.id, {
          ...body,
          flowId
        });
        return reply.code(201).send(ruleJson(rule));
      } catch (error) {
        if (error instanceof InvalidTargetError) {
          throw badRequest(error.message, error.field);
        }
        throw error;
      }
    }
  );

  app.delete(
    '/api/notifications/rules/:ruleId',
    {
      schema: {
        summary:
          'Remove a rule and its deliveries (those not sent are dropped)',
        params: idParam('ruleId'),
        response: { 204: { type: 'null' }, ...errorResponses }
      }
    },
    async (request, reply) => {
      const { workspace } = principalOf(request);
      const { ruleId } = request.params as { ruleId: string };
      if (!(await store.deleteNotificationRule(workspace.id, ruleId))) {
        throw notFound(`Notification rule ${ruleId} not found`);
      }
      return reply.code(204).send();
    }
  );

  app.post(
    '/api/notifications/rules/:ruleId/test',
    {
      schema: {
        summary:
          "Send a test message to the rule's destination now; says whether it arrived",
        params: idParam('ruleId'),
        response: {
          200: {
            type: 'object',
            properties: {
              rule: notificationRuleSchema,
              delivered: { type: 'boolean' },
              error: { type: ['string', 'null'] }
            },
            required: ['rule', 'delivered', 'error']
          },
          ...unavailable
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const { ruleId } = request.params as { ruleId: string };
      const result = await service().test(workspace.id, ruleId);
      if (!result) {
        throw notFound(`Notification rule ${ruleId} not found`);
      }
      return {
        rule: ruleJson(result.rule),
        delivered: result.error === null,
        error: result.error
      };
    }
  );

  app.get(
    '/api/notifications/deliveries',
    {
      schema: {
        summary:
          'Notifications queued and sent, newest first, with their outcome and failures',
        querystring: {
          type: 'object',
          properties: {
            flowId: { type: 'string', minLength: 1, maxLength: 200 },
            flowRunId: { type: 'string', minLength: 1, maxLength: 200 },
            ruleId: { type: 'string', minLength: 1, maxLength: 200 },
            state: { type: 'string', enum: [...DELIVERY_STATES] },
            limit: { type: 'integer', minimum: 1, maximum: 500 }
          },
          additionalProperties: false
        },
        response: {
          200: {
            type: 'object',
            properties: {
              deliveries: { type: 'array', items: notificationDeliverySchema }
            },
            required: ['deliveries']
          },
          ...errorResponses
        }
      }
    },
    async request => {
      const { workspace } = principalOf(request);
      const query = request.query as {
        flowId?: string;
        flowRunId?: string;
        ruleId?: string;
        state?: DeliveryState;
        limit?: number;
      };
      const deliveries = await store.listNotificationDeliveries({
        workspaceId: workspace.id,
        ...query
      });
      return { deliveries: deliveries.map(deliveryJson) };
    }
  );
}
