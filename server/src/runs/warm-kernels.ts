/**
 * Kernels started ahead of the runs that will use them, so a run (a scheduled one above all) does not
 * wait for a Python process to start: most of a run's start lateness was its kernel's start.
 *
 * Decisions:
 * - A warm kernel starts in a neutral folder; taking it moves it to the run's working folder
 *   (os.chdir, silently, out of history) before the run's first cell, so relative paths mean what they
 *   mean in a kernel started there.
 * - The pool refills in the background after each take; a kernel that died while waiting is dropped.
 * - Only kernels of the server's default Python are kept warm; size 0 keeps none.
 */
import type { ZmqKernel } from '../executor/index.js';

export class WarmKernels {
  private readonly ready: ZmqKernel[] = [];
  private starting = 0;
  private closed = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly start: () => Promise<ZmqKernel>,
    private readonly size: number,
    private readonly onError: (error: unknown) => void = () => undefined
  ) {}

  /** Start kernels until `size` are ready or starting. */
  fill(): void {
    while (!this.closed && this.ready.length + this.starting < this.size) {
      this.starting++;
      this.start().then(
        kernel => {
          this.starting--;
          if (this.closed) {
            void kernel.shutdown();
          } else {
            this.ready.push(kernel);
            this.settle();
          }
        },
        error => {
          this.starting--;
          this.settle();
          // No retry loop: the next take() refills, and a run starts its own kernel meanwhile.
          this.onError(error);
        }
      );
    }
  }

  /** A ready kernel moved to `cwd`, or null when none is ready (the caller starts one). */
  async take(cwd: string): Promise<ZmqKernel | null> {
    let kernel: ZmqKernel | undefined;
    while ((kernel = this.ready.shift()) !== undefined) {
      if (kernel.dead) {
        continue;
      }
      this.fill();
      try {
        const moved = await kernel.execute(
          `import os as _cf_os\n_cf_os.chdir(${JSON.stringify(cwd)})\ndel _cf_os`,
          { silent: true, storeHistory: false }
        );
        if (moved.status === 'ok') {
          return kernel;
        }
      } catch {
        // It died between the check and the request: try the next one.
      }
      void kernel.shutdown();
    }
    this.fill();
    return null;
  }

  /** Resolves once no kernel is starting any more (all ready, or failed): for tests and benchmarks. */
  whenSettled(): Promise<void> {
    return this.starting === 0
      ? Promise.resolve()
      : new Promise(resolve => this.waiters.push(resolve));
  }

  private settle(): void {
    if (this.starting === 0) {
      for (const resolve of this.waiters.splice(0)) {
        resolve();
      }
    }
  }

  get readyCount(): number {
    return this.ready.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(
      this.ready.splice(0).map(kernel => kernel.shutdown())
    );
  }
}
