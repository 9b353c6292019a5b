/**
 * Kernels of failed runs, kept alive for a grace period so that a retry can continue in them with the
 * upstream tasks' state intact instead of replaying those tasks on a new kernel.
 *
 * Decisions:
 * - Only this process's own memory knows them: a retry claimed by another process (a second server
 *   on the same PostgreSQL) finds nothing here and replays. They are listed nowhere public and take
 *   no run slot (maxConcurrentRuns counts executing runs only).
 * - Bounded: at most `max` are kept; keeping one more shuts the oldest down first, since each holds a
 *   Python process and whatever data the flow loaded.
 * - A kept kernel that dies on its own is forgotten; close() shuts every kept kernel down and waits.
 */
import type { RunKernel } from '../executor/index.js';
import type { CellOutputs } from './recorder.js';

export interface KeptKernel {
  /** The failed run this kernel belongs to: the run a retry names. */
  runId: string;
  flowId: string;
  flowVersion: number;
  /** The parameter values the kernel received; a retry continues in it only with the same. */
  parameters: Record<string, unknown>;
  kernel: RunKernel;
  /** Tasks whose results the kernel holds (they completed in it). */
  completed: string[];
  /** Setup cells (by cell id) that ran in it, of the tasks that did not complete. */
  setupCellsDone: string[];
  /** The failed run's cell outputs, for the retry's executed notebook (cells it does not run). */
  outputs: CellOutputs;
}

export interface KeptKernelsOptions {
  /** How long a failed run's kernel is kept; 0 keeps none. */
  graceMs: number;
  /** At most this many at once (default 4); 0 keeps none. */
  max?: number;
  /** How long a kernel gets to exit on a shutdown request before it is killed (default 2 s). */
  shutdownMs?: number;
}

interface Slot {
  entry: KeptKernel;
  timer: NodeJS.Timeout;
}

export const DEFAULT_MAX_KEPT_KERNELS = 4;

export class KeptKernels {
  /** Insertion order is age: the first is the oldest. */
  private readonly slots = new Map<string, Slot>();
  private readonly stopping = new Set<Promise<unknown>>();
  private readonly max: number;
  private closed = false;

  constructor(private readonly options: KeptKernelsOptions) {
    this.max = options.max ?? DEFAULT_MAX_KEPT_KERNELS;
    if (!Number.isFinite(options.graceMs) || options.graceMs < 0) {
      throw new RangeError(
        `the retry grace period must be a number of milliseconds of at least 0, got ${options.graceMs}`
      );
    }
    if (!Number.isInteger(this.max) || this.max < 0) {
      throw new RangeError(
        `the number of kept kernels must be a whole number of at least 0, got ${options.max}`
      );
    }
  }

  /** How many kernels are kept now. */
  get size(): number {
    return this.slots.size;
  }

  /**
   * Keeps the kernel for the grace period. False when it is not kept (grace 0, closed, dead): the
   * caller still owns it and shuts it down.
   */
  keep(entry: KeptKernel): boolean {
    if (
      this.closed ||
      this.options.graceMs <= 0 ||
      this.max === 0 ||
      entry.kernel.dead ||
      this.slots.has(entry.runId)
    ) {
      return false;
    }
    while (this.slots.size >= this.max) {
      const [oldest] = this.slots.keys();
      this.stop(this.remove(oldest)!);
    }
    const slot: Slot = {
      entry,
      timer: setTimeout(() => {
        if (this.slots.get(entry.runId) === slot) {
          this.stop(this.remove(entry.runId)!);
        }
      }, this.options.graceMs)
    };
    // A kept kernel alone must not hold the process open; it dies with it (JPY_PARENT_PID).
    slot.timer.unref();
    this.slots.set(entry.runId, slot);
    void entry.kernel.exited.then(() => {
      if (this.slots.get(entry.runId) === slot) {
        this.remove(entry.runId);
      }
    });
    return true;
  }

  /** Hands over the kernel kept for `runId` (no longer kept), or null when none is alive. */
  take(runId: string): KeptKernel | null {
    const entry = this.remove(runId);
    return entry && !entry.kernel.dead ? entry : null;
  }

  /** Keeps nothing more, shuts every kept kernel down and waits until they have exited. */
  async close(): Promise<void> {
    this.closed = true;
    for (const runId of [...this.slots.keys()]) {
      this.stop(this.remove(runId)!);
    }
    while (this.stopping.size > 0) {
      await Promise.all([...this.stopping]);
    }
  }

  private remove(runId: string): KeptKernel | null {
    const slot = this.slots.get(runId);
    if (!slot) {
      return null;
    }
    clearTimeout(slot.timer);
    this.slots.delete(runId);
    return slot.entry;
  }

  private stop(entry: KeptKernel): void {
    const stopped = entry.kernel
      .shutdown(this.options.shutdownMs ?? 2000)
      .catch(() => entry.kernel.kill())
      .catch(() => undefined)
      .finally(() => this.stopping.delete(stopped));
    this.stopping.add(stopped);
  }
}
