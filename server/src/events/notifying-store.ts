/**
 * A Store that tells the hub after each write that appended events, so no writer (API, run service,
 * scheduler) can forget to. Everything else passes through untouched; a Proxy rather than a copy of the
 * interface, so methods the Store gains later keep working. Notifying after a write that appended nothing
 * is harmless: listeners re-read the events table and find nothing new.
 */
import type {
  CreateRunInput,
  FlowRun,
  NewEvent,
  Store,
  TaskTransitionResult
} from '../store/store.js';
import type { EventHub } from './hub.js';

/** Given a write's arguments and result, the workspaces whose events it appended to. */
type Affected = (
  args: unknown[],
  result: unknown,
  runWorkspace: (runId: string) => Promise<string | null>
) => Promise<(string | null)[]> | (string | null)[];

const byFirstArg: Affected = args => [args[0] as string];
const byRun: Affected = (_args, result) => [
  (result as FlowRun | null)?.workspaceId ?? null
];

const WRITES: Partial<Record<keyof Store, Affected>> = {
  createApiKey: byFirstArg,
  revokeApiKey: (args, result) => (result ? [args[0] as string] : []),
  deployFlow: args => [(args[0] as { workspaceId: string }).workspaceId],
  setFlowPaused: byFirstArg,
  setFlowRetries: byFirstArg,
  deleteFlow: (args, result) => (result ? [args[0] as string] : []),
  createRun: byRun,
  createScheduledRunIfAbsent: (args, result) =>
    result ? [(args[0] as CreateRunInput).workspaceId] : [],
  transitionRun: byRun,
  claimNextPendingRun: byRun,
  crashRunningRuns: (_args, result) =>
    (result as FlowRun[]).map(r => r.workspaceId),
  createTaskRuns: async (args, _result, runWorkspace) => [
    await runWorkspace(args[0] as string)
  ],
  transitionTaskRun: async (_args, result, runWorkspace) => [
    await runWorkspace((result as TaskTransitionResult).taskRun.flowRunId)
  ],
  transitionTaskRuns: async (_args, result, runWorkspace) => {
    const runs = new Set(
      (result as TaskTransitionResult[]).map(r => r.taskRun.flowRunId)
    );
    return Promise.all([...runs].map(runWorkspace));
  },
  appendEvent: args => [(args[0] as NewEvent).workspaceId]
};

export function withEventNotifications(store: Store, hub: EventHub): Store {
  // Task-run writes return rows without a workspace; runs never move between workspaces, so remember.
  const known = new Map<string, string>();
  const runWorkspace = async (runId: string): Promise<string | null> => {
    const cached = known.get(runId);
    if (cached) {
      return cached;
    }
    const run = await store.getRunById(runId);
    if (run) {
      known.set(run.id, run.workspaceId);
    }
    return run?.workspaceId ?? null;
  };
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') {
        return value;
      }
      const affected = WRITES[property as keyof Store];
      if (!affected) {
        return value.bind(target);
      }
      return async (...args: unknown[]) => {
        const result = await value.apply(target, args);
        if (result && typeof result === 'object' && 'workspaceId' in result) {
          const run = result as FlowRun;
          if (typeof run.id === 'string') {
            known.set(run.id, run.workspaceId);
          }
        }
        const workspaces = await affected(args, result, runWorkspace);
        for (const workspaceId of new Set(workspaces)) {
          if (workspaceId) {
            hub.notify(workspaceId);
          }
        }
        return result;
      };
    }
  });
}
