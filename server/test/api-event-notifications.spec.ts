/**
 * withEventNotifications: every store write that appends events tells the hub about the right
 * workspace, so live streams hear about run-service and scheduler writes without those remembering to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { compileNotebook } from '../../src/flow/index.js';
import { LocalEventHub } from '../src/events/hub.js';
import { withEventNotifications } from '../src/events/notifying-store.js';
import type { Store } from '../src/store/store.js';
import {
  etlNotebook,
  newTenant,
  openTestStore,
  type TestStore
} from './support/api-fixture.js';

let db: TestStore;

beforeAll(async () => {
  db = await openTestStore();
});
afterAll(async () => {
  await db.close();
});

/** Counts notifies per workspace for the tenants a test watches. */
function watch(hub: LocalEventHub, ...workspaceIds: string[]) {
  const counts = new Map(workspaceIds.map(id => [id, 0]));
  for (const id of workspaceIds) {
    hub.subscribe(id, () => counts.set(id, counts.get(id)! + 1));
  }
  return counts;
}

describe('withEventNotifications', () => {
  it('notifies the workspace after each write that appends events, and not after reads', async () => {
    const hub = new LocalEventHub();
    const store: Store = withEventNotifications(db.store, hub);
    const mine = await newTenant(db.store);
    const other = await newTenant(db.store);
    const counts = watch(hub, mine.workspace.id, other.workspace.id);
    const ws = mine.workspace.id;
    const compiled = compileNotebook(etlNotebook(), { name: 'etl' });
    if (!compiled.ok) {
      throw new Error('fixture notebook must compile');
    }

    const { flow } = await store.deployFlow({
      workspaceId: ws,
      name: 'etl',
      spec: compiled.spec,
      notebook: etlNotebook(),
      kernelName: 'python3'
    });
    expect(counts.get(ws)).toBe(1);
    const run = await store.createRun({
      workspaceId: ws,
      flowId: flow.id,
      trigger: 'manual'
    });
    expect(counts.get(ws)).toBe(2);
    await store.listRuns({ workspaceId: ws });
    await store.getRun(ws, run.id);
    await store.listEvents({ workspaceId: ws });
    expect(counts.get(ws)).toBe(2);
    const claimed = await store.claimNextPendingRun({
      owner: 'w',
      leaseMs: 60_000,
      workspaceId: ws
    });
    expect(claimed?.id).toBe(run.id);
    expect(counts.get(ws)).toBe(3);
    const [task] = await store.createTaskRuns(run.id, ['extract']);
    expect(counts.get(ws)).toBe(4);
    await store.transitionTaskRun(task.id, 'Running');
    expect(counts.get(ws)).toBe(5);
    await store.appendEvent({
      workspaceId: ws,
      flowRunId: run.id,
      type: 'log',
      payload: {}
    });
    expect(counts.get(ws)).toBe(6);
    await store.transitionRun(run.id, 'Failed', { error: 'boom' });
    expect(counts.get(ws)).toBe(7);
    await store.setFlowPaused(ws, flow.id, true);
    expect(counts.get(ws)).toBe(8);
    expect(await store.deleteFlow(ws, 'no-such-flow')).toBe(false);
    expect(counts.get(ws)).toBe(8);
    // The other workspace heard nothing.
    expect(counts.get(other.workspace.id)).toBe(0);
    expect(store.kind).toBe(db.store.kind);
  });
});
