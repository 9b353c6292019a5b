/**
 * Kernels started ahead of the runs that will use them, so a run (a scheduled one above all) does not
 * wait for a Python process to start: most of a run's start lateness was its kernel's start.
 *
 * Decisions:
 * - A kernel is started for a profile: its workspace, its working folder and its environment (the
 *   workspace's secrets). A sandbox's mounts are fixed when it starts, and a kernel must never hold
 *   another workspace's secrets, so a warm kernel serves only runs of the same profile.
 * - Which profiles: the most recently used. Each take (a hit or a miss) starts a kernel ahead for that
 *   profile's next run; a scheduled flow's runs are then all warm but its first. At most `size` kernels
 *   are ready or starting; the least recently used profile's kernel makes room.
 * - A kernel that died while waiting is dropped; size 0 keeps none.
 */
import type { RunKernel } from '../executor/index.js';

export interface KernelProfile {
  /** Same key, same kernel: workspace, folder, environment (see KernelLauncher). */
  readonly key: string;
}

interface Ready<P> {
  profile: P;
  kernel: RunKernel;
}

export class WarmKernels<P extends KernelProfile = KernelProfile> {
  /** Least recently used first. */
  private ready: Ready<P>[] = [];
  private readonly starting = new Map<string, number>();
  private closed = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly start: (profile: P) => Promise<RunKernel>,
    private readonly size: number,
    private readonly onError: (error: unknown) => void = () => undefined
  ) {}

  /** A ready kernel of this profile (it is then the caller's), or null; starts its next one ahead. */
  async take(profile: P): Promise<RunKernel | null> {
    let found: RunKernel | null = null;
    for (const entry of this.ready.filter(r => r.profile.key === profile.key)) {
      this.ready = this.ready.filter(r => r !== entry);
      if (!entry.kernel.dead) {
        found = entry.kernel;
        break;
      }
    }
    this.prepare(profile);
    return found;
  }

  /** Starts a kernel ahead for this profile unless one is ready or starting. */
  prepare(profile: P): void {
    if (this.closed || this.size === 0) {
      return;
    }
    const mine = this.ready.filter(r => r.profile.key === profile.key);
    // Most recently used: moved to the end.
    this.ready = [
      ...this.ready.filter(r => r.profile.key !== profile.key),
      ...mine
    ];
    if (mine.length > 0 || (this.starting.get(profile.key) ?? 0) > 0) {
      return;
    }
    while (this.ready.length > 0 && this.count() >= this.size) {
      void this.ready.shift()!.kernel.shutdown();
    }
    if (this.count() >= this.size) {
      return;
    }
    this.starting.set(profile.key, (this.starting.get(profile.key) ?? 0) + 1);
    this.start(profile).then(
      kernel => {
        this.started(profile.key);
        if (this.closed) {
          void kernel.shutdown();
        } else {
          this.ready.push({ profile, kernel });
        }
        this.settle();
      },
      error => {
        this.started(profile.key);
        this.settle();
        // No retry loop: the next take() tries again, and a run starts its own kernel meanwhile.
        this.onError(error);
      }
    );
  }

  /** Resolves once no kernel is starting any more (all ready, or failed): for tests and benchmarks. */
  whenSettled(): Promise<void> {
    return this.startingCount() === 0
      ? Promise.resolve()
      : new Promise(resolve => this.waiters.push(resolve));
  }

  get readyCount(): number {
    return this.ready.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(
      this.ready.splice(0).map(entry => entry.kernel.shutdown())
    );
  }

  private count(): number {
    return this.ready.length + this.startingCount();
  }

  private startingCount(): number {
    let total = 0;
    for (const n of this.starting.values()) {
      total += n;
    }
    return total;
  }

  private started(key: string): void {
    const left = (this.starting.get(key) ?? 1) - 1;
    if (left > 0) {
      this.starting.set(key, left);
    } else {
      this.starting.delete(key);
    }
  }

  private settle(): void {
    if (this.startingCount() === 0) {
      for (const resolve of this.waiters.splice(0)) {
        resolve();
      }
    }
  }
}
