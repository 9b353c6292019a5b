/**
 * The TypeScript types of the Cellflow API's answers, derived from the schemas the server's routes
 * serialise with (wire-schemas.ts), for the lab's client (types.ts) and the CLI's client
 * (server/src/cli/client.ts). Types only: nothing here exists at run time.
 */
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

import type { FlowSpec } from '../flow/spec.js';
import type * as S from './wire-schemas.js';

/**
 * A response schema read as closed: the server serialises only the properties a schema lists
 * (fast-json-stringify drops any other), so an object without `additionalProperties` of its own has
 * no other keys on the wire. Without this, FromSchema would give every object an index signature.
 */
type Closed<T> = T extends { readonly type: 'object' }
  ? {
      readonly [K in keyof T | 'additionalProperties']: K extends 'properties'
        ? { readonly [P in keyof T[K]]: Closed<T[K][P]> }
        : K extends 'additionalProperties'
          ? K extends keyof T
            ? T[K]
            : false
          : K extends keyof T
            ? T[K]
            : never;
    }
  : T extends { readonly items: unknown }
    ? {
        readonly [K in keyof T]: K extends 'items' ? Closed<T[K]> : T[K];
      }
    : T;

/** The type of what the server sends under a response schema. */
export type Wire<T extends JSONSchema> =
  Closed<T> extends infer C extends JSONSchema ? FromSchema<C> : never;

export type WireFlow = Wire<typeof S.flowSchema>;
/** A flow version; its spec is any JSON to the schema, the compiled flow the server validated. */
export type WireFlowVersion = Omit<Wire<typeof S.flowVersionSchema>, 'spec'> & {
  spec: FlowSpec;
};
export type WireFlowRun = Wire<typeof S.flowRunSchema>;
export type WireTaskAttempt = Wire<typeof S.taskAttemptSchema>;
export type WireTaskRun = Wire<typeof S.taskRunSchema>;
export type WireFlowRunDetail = Wire<typeof S.flowRunDetailSchema>;
export type WireLogLine = Wire<typeof S.logLineSchema>;
export type WireEvent = Wire<typeof S.eventSchema>;
export type WireSecret = Wire<typeof S.secretSchema>;
export type WireNotificationRule = Wire<typeof S.notificationRuleSchema>;
export type WireNotificationDelivery = Wire<
  typeof S.notificationDeliverySchema
>;
export type WireSchedule = Wire<typeof S.scheduleSchema>;
export type WireOverlap = Wire<typeof S.overlapSchema>;
export type WireMe = Wire<typeof S.meSchema>;
export type WireWorker = Wire<typeof S.workerSchema>;
export type OverlapPolicy = WireOverlap['overlap'];
