/**
 * The run loop's task cache (src/flow/task-cache.ts) over the server's store: entries in the task_cache
 * table of the run's workspace, never another's. Also how a run asks to skip the cache: the API
 * records a `flow_run.refresh_cache` event with the run (`cellflow run --refresh-cache`, the panel's
 * "Refresh cache" option), read here when the run starts.
 */
import type {
  CachedVariables,
  RunCacheOptions,
  TaskCacheEntry,
  TaskCacheStore
} from '../../../src/flow/task-cache.js';
import type { FlowSpec } from '../../../src/flow/spec.js';
import type { KernelOutput } from '../../../src/flow/kernel.js';
import type { FlowRun, Store } from '../store/store.js';
import { noMask, type Masker } from './mask.js';

/** The event that marks a run as skipping cached results. */
export const REFRESH_CACHE_EVENT = 'flow_run.refresh_cache';

/** What a workspace's cached results may take in all, by default: 256 MB (least recently used go first). */
export const DEFAULT_TASK_CACHE_BYTES = 256 * 1024 * 1024;

/**
 * `mask` is the run's secret masker: the outputs kept for later runs are masked as the run's own are
 * before they reach the store. (The variables are pickled in the kernel and kept as they are: a task
 * that holds a secret in a variable keeps it in the cache, in this workspace only.)
 */
export function workspaceTaskCache(
  store: Store,
  workspaceId: string,
  maxBytes: number,
  mask: Masker = noMask
): TaskCacheStore {
  return {
    async get(key, now) {
      const row = await store.getTaskCacheEntry(
        workspaceId,
        key,
        new Date(now)
      );
      if (!row) {
        return null;
      }
      const entry = row.entry as {
        variables?: CachedVariables;
        outputs?: KernelOutput[];
      };
      if (!entry.variables || !Array.isArray(entry.outputs)) {
        return null; // not an entry this version wrote: run the task again
      }
      return {
        key: row.cacheKey,
        taskName: row.taskName,
        runId: row.flowRunId,
        createdAt: row.createdAt.getTime(),
        expiresAt: row.expiresAt.getTime(),
        variables: entry.variables,
        outputs: entry.outputs
      } satisfies TaskCacheEntry;
    },
    async put(entry) {
      await store.putTaskCacheEntry(
        workspaceId,
        {
          cacheKey: entry.key,
          taskName: entry.taskName,
          flowRunId: entry.runId,
          entry: { variables: entry.variables, outputs: mask(entry.outputs) },
          createdAt: new Date(entry.createdAt),
          expiresAt: new Date(entry.expiresAt)
        },
        maxBytes
      );
    }
  };
}

/** The run loop's cache options for this run, or undefined when its flow caches no task. */
export async function runCacheOptions(
  store: Store,
  run: FlowRun,
  spec: FlowSpec,
  maxBytes = DEFAULT_TASK_CACHE_BYTES,
  mask: Masker = noMask
): Promise<RunCacheOptions | undefined> {
  if (!spec.tasks.some(t => t.cacheFor)) {
    return undefined;
  }
  const events = await store.listEvents({
    workspaceId: run.workspaceId,
    flowRunId: run.id,
    limit: 50
  });
  return {
    store: workspaceTaskCache(store, run.workspaceId, maxBytes, mask),
    runId: run.id,
    refresh: events.some(e => e.type === REFRESH_CACHE_EVENT),
    maxEntryBytes: Math.min(maxBytes, 16 * 1024 * 1024)
  };
}
