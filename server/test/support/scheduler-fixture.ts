/**
 * The scheduler tests' world: a deployed flow with parameters, a manual clock, and small readers of
 * a flow's runs and events.
 */
import { compileNotebook } from '../../../src/flow/compiler.js';
import type { FlowRun, FlowRunState, Store } from '../../src/store/store.js';
import { etlNotebook, newTenant } from './api-fixture.js';

export const T0 = Date.parse('2026-01-05T00:00:00Z');

/** A clock the test moves by hand. */
export function manualClock(start = T0) {
  let t = start;
  return {
    now: () => new Date(t),
    set: (ms: number) => {
      t = ms;
    },
    advance: (ms: number) => {
      t += ms;
    },
    get ms() {
      return t;
    }
  };
}

/** A fresh workspace with the tutorial's flow (parameters url: string, limit: integer). */
export async function deployedFlow(store: Store) {
  const tenant = await newTenant(store, 'sched');
  const compiled = compileNotebook(etlNotebook(), { name: 'etl' });
  if (!compiled.ok) {
    throw new Error('the test notebook does not compile');
  }
  const { flow } = await store.deployFlow({
    workspaceId: tenant.workspace.id,
    name: 'etl',
    spec: compiled.spec,
    notebook: etlNotebook(),
    kernelName: 'python3'
  });
  return { tenant, workspaceId: tenant.workspace.id, flow };
}

/** All runs of the flow, oldest scheduled time first. */
export async function runsOf(
  store: Store,
  workspaceId: string,
  flowId: string
): Promise<FlowRun[]> {
  const { runs } = await store.listRuns({ workspaceId, flowId, limit: 500 });
  return runs.sort(
    (a, b) =>
      (a.scheduledAt?.getTime() ?? 0) - (b.scheduledAt?.getTime() ?? 0) ||
      a.seq - b.seq
  );
}

export const statesOf = (runs: FlowRun[]): FlowRunState[] =>
  runs.map(r => r.state);

/** Seconds after T0 of each run's scheduled time. */
export const secondsOf = (runs: FlowRun[]): number[] =>
  runs.map(r => (r.scheduledAt!.getTime() - T0) / 1000);

/** Finish a Pending run as the run service would (Pending → Running → Completed). */
export async function finish(store: Store, run: FlowRun): Promise<void> {
  await store.transitionRun(run.id, 'Running', { from: 'Pending' });
  await store.transitionRun(run.id, 'Completed', { from: 'Running' });
}
