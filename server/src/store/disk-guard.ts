/**
 * The embedded store on a disk that fills up: PGlite does not survive ENOSPC. When PostgreSQL (in
 * WebAssembly) cannot allocate its next 16 MB WAL segment it spins on the server's one thread (measured:
 * a 64 MB disk, runs printing 5 MB each, /api/health silent for 16 minutes, SIGTERM ignored, and the
 * store refused to open again until ~16 MB were free). So the embedded store is never allowed to get
 * there: while less than a reserve is free in the data dir, the writes that grow the store (log lines,
 * outputs, executed notebooks, deploys, new runs and schedules, planned runs, secrets) are refused at once
 * with DiskFullError, before PGlite sees them; small writes (state changes) still go through, so a run
 * that cannot write its logs ends Crashed with the reason, and the API answers 507. Once space is back,
 * writes go through again; nothing needs a restart.
 *
 * The reserve (default 48 MB: the WAL segment being filled, the next one, and room for checkpoints) is
 * `cellflow server --disk-reserve MB`. Not used with PostgreSQL, whose server handles its own disk.
 */
import { statfsSync } from 'node:fs';

import type { Store } from './store.js';

export const DEFAULT_DISK_RESERVE_BYTES = 48 * 1024 * 1024;

/** The writes that make the store bigger (the ones a full disk must stop). */
const GROWING_WRITES: ReadonlySet<string> = new Set<keyof Store>([
  'appendLogLines',
  'saveAttemptOutputs',
  'saveExecutedNotebook',
  'deployFlow',
  'createRun',
  'createScheduledRunIfAbsent',
  'planScheduledRuns',
  'createSchedule',
  'updateSchedule',
  'putSecret',
  'appendEvent'
]);

export class DiskFullError extends Error {
  readonly code = 'DISK_FULL';
  constructor(
    readonly dataDir: string,
    readonly freeBytes: number,
    readonly reserveBytes: number
  ) {
    super(
      `disk full: ${mb(freeBytes)} free where the embedded store lives (${dataDir}), ` +
        `below the ${mb(reserveBytes)} it keeps in reserve; free some space (nothing was written)`
    );
    this.name = 'DiskFullError';
  }
}

export interface DiskGuardOptions {
  dataDir: string;
  reserveBytes?: number;
  /** How stale a free-space reading may be before it is taken again (default 500 ms). */
  maxAgeMs?: number;
  /** The free bytes (tests); default: statfs of the data dir. */
  freeBytes?: () => number;
}

export class DiskGuard {
  readonly reserveBytes: number;
  private readonly maxAgeMs: number;
  private readonly read: () => number;
  private free = Number.POSITIVE_INFINITY;
  private readAt = 0;

  constructor(private readonly options: DiskGuardOptions) {
    this.reserveBytes = options.reserveBytes ?? DEFAULT_DISK_RESERVE_BYTES;
    if (!Number.isFinite(this.reserveBytes) || this.reserveBytes < 0) {
      throw new RangeError(
        `the disk reserve must be 0 or more bytes, got ${options.reserveBytes}`
      );
    }
    this.maxAgeMs = options.maxAgeMs ?? 500;
    this.read =
      options.freeBytes ??
      (() => {
        const stat = statfsSync(options.dataDir);
        return Number(stat.bavail) * Number(stat.bsize);
      });
  }

  /** Throws DiskFullError while less than the reserve is free. */
  check(): void {
    const now = Date.now();
    // A low reading is never trusted from cache: once space is back the next write sees it.
    if (now - this.readAt >= this.maxAgeMs || this.free < this.reserveBytes) {
      try {
        this.free = this.read();
      } catch {
        // No reading (the folder went away): do not block the store on that.
        this.free = Number.POSITIVE_INFINITY;
      }
      this.readAt = now;
    }
    if (this.free < this.reserveBytes) {
      throw new DiskFullError(
        this.options.dataDir,
        this.free,
        this.reserveBytes
      );
    }
  }
}

/** The store, with its growing writes refused while the disk is (nearly) full. */
export function guardDiskSpace(store: Store, guard: DiskGuard): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (
        typeof property !== 'string' ||
        typeof value !== 'function' ||
        !GROWING_WRITES.has(property)
      ) {
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return async (...args: unknown[]) => {
        guard.check();
        return value.apply(target, args);
      };
    }
  });
}

function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
