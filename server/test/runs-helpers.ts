/**
 * Helpers for the run-service tests: notebooks to deploy, a hub that lets a test wait on store writes
 * (no polling loops, no sleeps), and kernel bookkeeping so every kernel is cleaned up.
 */
import { compileNotebook } from '../../src/flow/compiler.js';
import type { RunKernel } from '../src/executor/index.js';
import type { Notifier } from '../src/runs/recorder.js';
import type { Store } from '../src/store/store.js';

export const python = new URL('../../.venv/bin/python', import.meta.url)
  .pathname;

export interface CellInput {
  source: string;
  tags?: string[];
}

export function notebook(
  cells: (string | CellInput)[],
  metadata: Record<string, unknown> = {}
) {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3',
        language: 'python'
      },
      ...metadata
    },
    cells: cells.map((cell, i) => {
      const c = typeof cell === 'string' ? { source: cell } : cell;
      return {
        cell_type: 'code',
        id: `cell-${i}`,
        metadata: c.tags ? { tags: c.tags } : {},
        source: c.source,
        outputs: [],
        execution_count: null
      };
    })
  };
}

export async function deploy(
  store: Store,
  workspaceId: string,
  name: string,
  nb: ReturnType<typeof notebook>
) {
  const compiled = compileNotebook(nb);
  if (!compiled.ok) {
    throw new Error(
      `test notebook does not compile: ${JSON.stringify(compiled.problems)}`
    );
  }
  return store.deployFlow({
    workspaceId,
    name,
    spec: compiled.spec,
    notebook: nb,
    kernelName: 'python3'
  });
}

/** A hub whose notifies re-run the checks tests are waiting on. */
export class WaitingHub implements Notifier {
  private readonly waiters = new Set<() => void>();

  notify(): void {
    for (const waiter of [...this.waiters]) {
      waiter();
    }
  }

  /**
   * Resolves with the first truthy value of `check`, evaluated now and after every store write that
   * notified. Bounded: rejects naming `what` after `limitMs`.
   */
  until<T>(
    what: string,
    check: () => Promise<T | null | undefined | false>,
    limitMs = 25_000
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let busy = false;
      let again = false;
      let done = false;
      const finish = (fn: () => void) => {
        done = true;
        this.waiters.delete(run);
        clearTimeout(timer);
        fn();
      };
      const run = () => {
        if (done) {
          return;
        }
        if (busy) {
          again = true;
          return;
        }
        busy = true;
        check().then(
          value => {
            busy = false;
            if (value) {
              finish(() => resolve(value));
            } else if (again) {
              again = false;
              run();
            }
          },
          error => finish(() => reject(error))
        );
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`timed out waiting for ${what}`))),
        limitMs
      );
      this.waiters.add(run);
      run();
    });
  }
}

/** Every kernel a test started; killed at the end whatever happened. */
export class KernelLog {
  readonly kernels: RunKernel[] = [];

  add = (_runId: string, kernel: RunKernel): void => {
    this.kernels.push(kernel);
  };

  async killAll(): Promise<void> {
    await Promise.all(this.kernels.map(k => k.kill()));
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
