/**
 * Retention (`cellflow server --retention-days N --retention-runs N`): ended runs older than N days,
 * or beyond the newest N runs of their flow, are removed with their logs, outputs, executed notebooks
 * and events, so a history that grows for years stays as fast to list as a new one.
 *
 * Decisions:
 * - A sweep at start and then every hour, by every API server: on a shared PostgreSQL several servers
 *   may sweep at once, and a DELETE of rows already gone is harmless.
 * - In batches (1000 runs a transaction), yielding between them, so a first sweep over a long history
 *   never holds the store for long.
 * - Runs that have not ended are never removed (the store's rule).
 */
import type { PruneRunsPolicy, Store } from './store/store.js';

export interface RetentionSettings {
  /** Remove ended runs older than this many days. */
  days?: number;
  /** Keep only the newest this many runs of each flow. */
  runsPerFlow?: number;
  /** How often to sweep (default hourly). */
  everyMs?: number;
}

export const RETENTION_DAYS_MAX = 36_500;
export const RETENTION_RUNS_MAX = 1_000_000;
const BATCH = 1000;
const DAY_MS = 86_400_000;

/** A retention setting as typed (an option or a variable): a whole number within its bounds, or an error naming it. */
export function parseRetention(
  value: string,
  setting: string,
  max: number
): number {
  const n = Number(value);
  if (
    !/^\d+$/.test(value.trim()) ||
    !Number.isSafeInteger(n) ||
    n < 1 ||
    n > max
  ) {
    throw new Error(
      `${setting} must be a whole number from 1 to ${max}, got "${value}"`
    );
  }
  return n;
}

/** The settings from the options, else from CELLFLOW_RETENTION_DAYS and CELLFLOW_RETENTION_RUNS. */
export function retentionSettings(
  options: { days?: number; runsPerFlow?: number },
  env: NodeJS.ProcessEnv
): RetentionSettings {
  const days =
    options.days ??
    (env.CELLFLOW_RETENTION_DAYS
      ? parseRetention(
          env.CELLFLOW_RETENTION_DAYS,
          'CELLFLOW_RETENTION_DAYS',
          RETENTION_DAYS_MAX
        )
      : undefined);
  const runsPerFlow =
    options.runsPerFlow ??
    (env.CELLFLOW_RETENTION_RUNS
      ? parseRetention(
          env.CELLFLOW_RETENTION_RUNS,
          'CELLFLOW_RETENTION_RUNS',
          RETENTION_RUNS_MAX
        )
      : undefined);
  return {
    ...(days !== undefined ? { days } : {}),
    ...(runsPerFlow !== undefined ? { runsPerFlow } : {})
  };
}

export interface Retention {
  /** Removes what the settings say now; resolves with how many runs went. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export function startRetention(
  store: Store,
  settings: RetentionSettings,
  onError: (error: unknown) => void
): Retention | null {
  if (settings.days === undefined && settings.runsPerFlow === undefined) {
    return null;
  }
  let stopped = false;
  let running: Promise<number> | null = null;
  const sweepOnce = async (): Promise<number> => {
    const policy: PruneRunsPolicy = {
      ...(settings.days !== undefined
        ? { endedBefore: new Date(Date.now() - settings.days * DAY_MS) }
        : {}),
      ...(settings.runsPerFlow !== undefined
        ? { keepPerFlow: settings.runsPerFlow }
        : {})
    };
    let removed = 0;
    while (!stopped) {
      const ids = await store.pruneRuns(policy, BATCH);
      removed += ids.length;
      if (ids.length < BATCH) {
        break;
      }
      await new Promise(resolve => setImmediate(resolve));
    }
    return removed;
  };
  const sweep = (): Promise<number> => {
    running ??= sweepOnce().finally(() => {
      running = null;
    });
    return running;
  };
  const background = () => {
    sweep().catch(onError);
  };
  background();
  const timer = setInterval(background, settings.everyMs ?? 3_600_000);
  timer.unref();
  return {
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    }
  };
}
