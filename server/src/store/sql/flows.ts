/** Flows and their immutable versions: a deploy adds version N+1, never rewrites one. */
import { randomUUID } from 'node:crypto';

import { and, asc, eq } from 'drizzle-orm';

import { NotFoundError } from '../errors.js';
import { flows, flowVersions } from '../schema.js';
import {
  FLOW_RETRIES_MAX,
  checkPoolName,
  FLOW_RETRY_DELAY_MAX,
  type DeployInput,
  type Flow,
  type FlowRetrySettings,
  type FlowVersion
} from '../store.js';
import { requireText, requireWorkspace, type Db } from './common.js';
import { insertEvent } from './events.js';

export async function deployFlow(
  db: Db,
  input: DeployInput
): Promise<{ flow: Flow; version: FlowVersion }> {
  const { workspaceId, name, spec, notebook, kernelName } = input;
  requireText('Flow name', name);
  requireText('Kernel name', kernelName);
  await requireWorkspace(db, workspaceId);
  await db
    .insert(flows)
    .values({ id: randomUUID(), workspaceId, name })
    .onConflictDoNothing({ target: [flows.workspaceId, flows.name] });
  // The row lock makes concurrent deploys of one flow take version numbers one after the other.
  const [current] = await db
    .select()
    .from(flows)
    .where(and(eq(flows.workspaceId, workspaceId), eq(flows.name, name)))
    .for('update');
  const next = current.latestVersion + 1;
  const now = new Date();
  const [version] = await db
    .insert(flowVersions)
    .values({
      flowId: current.id,
      version: next,
      spec,
      notebook,
      kernelName,
      createdAt: now
    })
    .returning();
  const [flow] = await db
    .update(flows)
    .set({ latestVersion: next, updatedAt: now })
    .where(eq(flows.id, current.id))
    .returning();
  await insertEvent(db, {
    workspaceId,
    flowId: flow.id,
    type: 'flow.deployed',
    payload: { name, version: next }
  });
  return { flow, version };
}

export function listFlows(db: Db, workspaceId: string): Promise<Flow[]> {
  return db
    .select()
    .from(flows)
    .where(eq(flows.workspaceId, workspaceId))
    .orderBy(asc(flows.name));
}

export async function getFlow(
  db: Db,
  workspaceId: string,
  flowId: string
): Promise<Flow | null> {
  const [row] = await db
    .select()
    .from(flows)
    .where(and(eq(flows.id, flowId), eq(flows.workspaceId, workspaceId)));
  return row ?? null;
}

export async function getFlowByName(
  db: Db,
  workspaceId: string,
  name: string
): Promise<Flow | null> {
  const [row] = await db
    .select()
    .from(flows)
    .where(and(eq(flows.name, name), eq(flows.workspaceId, workspaceId)));
  return row ?? null;
}

export async function getFlowVersion(
  db: Db,
  workspaceId: string,
  flowId: string,
  version?: number
): Promise<FlowVersion | null> {
  const [row] = await db
    .select({ version: flowVersions })
    .from(flowVersions)
    .innerJoin(flows, eq(flows.id, flowVersions.flowId))
    .where(
      and(
        eq(flows.id, flowId),
        eq(flows.workspaceId, workspaceId),
        eq(flowVersions.version, version ?? flows.latestVersion)
      )
    );
  return row?.version ?? null;
}

export async function setFlowRetries(
  db: Db,
  workspaceId: string,
  flowId: string,
  settings: FlowRetrySettings
): Promise<Flow> {
  const { retries, retryDelay, pool } = settings;
  checkWhole('retries', retries, FLOW_RETRIES_MAX);
  checkWhole('retryDelay', retryDelay, FLOW_RETRY_DELAY_MAX);
  if (pool !== undefined) {
    checkPoolName(pool);
  }
  const [flow] = await db
    .update(flows)
    .set({
      ...(retries === undefined ? {} : { retries }),
      ...(retryDelay === undefined ? {} : { retryDelay }),
      ...(pool === undefined ? {} : { pool }),
      updatedAt: new Date()
    })
    .where(and(eq(flows.id, flowId), eq(flows.workspaceId, workspaceId)))
    .returning();
  if (!flow) {
    throw new NotFoundError('Flow', flowId);
  }
  await insertEvent(db, {
    workspaceId,
    flowId,
    type: 'flow.updated',
    payload: {
      retries: flow.retries,
      retryDelay: flow.retryDelay,
      pool: flow.pool
    }
  });
  return flow;
}

function checkWhole(name: string, value: number | undefined, max: number) {
  if (
    value !== undefined &&
    !(Number.isInteger(value) && value >= 0 && value <= max)
  ) {
    throw new RangeError(
      `${name} must be a whole number from 0 to ${max}, got ${value}`
    );
  }
}

export async function setFlowPaused(
  db: Db,
  workspaceId: string,
  flowId: string,
  paused: boolean
): Promise<Flow> {
  const [flow] = await db
    .update(flows)
    .set({ paused, updatedAt: new Date() })
    .where(and(eq(flows.id, flowId), eq(flows.workspaceId, workspaceId)))
    .returning();
  if (!flow) {
    throw new NotFoundError('Flow', flowId);
  }
  await insertEvent(db, {
    workspaceId,
    flowId,
    type: 'flow.updated',
    payload: { paused }
  });
  return flow;
}

export async function deleteFlow(
  db: Db,
  workspaceId: string,
  flowId: string
): Promise<boolean> {
  const rows = await db
    .delete(flows)
    .where(and(eq(flows.id, flowId), eq(flows.workspaceId, workspaceId)))
    .returning({ name: flows.name });
  if (rows.length === 0) {
    return false;
  }
  await insertEvent(db, {
    workspaceId,
    flowId,
    type: 'flow.deleted',
    payload: { name: rows[0].name }
  });
  return true;
}
