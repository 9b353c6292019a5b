/**
 * The run service: claims Pending runs under a lease, up to a bound, and executes each in its own
 * kernel (RunExecution). Woken by wake() when the API writes a Pending run; a slow re-check catches
 * runs written by other processes (scheduler, another server on the same PostgreSQL). The kernel of a
 * run that ended Failed is kept for the retry grace period (KeptKernels), so a retry claimed here
 * meanwhile continues in it.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';

import { defaultPython, type RunKernel } from '../executor/index.js';
import type { KernelGateway } from '../executor/gateway.js';
import type { IsolationMode } from '../executor/sandbox.js';
import { describeStoreError } from '../store/errors.js';
import {
  DEFAULT_POOL,
  checkPoolName,
  type FlowRun,
  type FlowRunState,
  type Store
} from '../store/store.js';
import type { RunController } from './controller.js';
import { retryCrashedRuns } from './crash-retry.js';
import { RunExecution } from './execution.js';
import { resolveIsolation, type KernelIsolation } from './isolation.js';
import { GatewayKernels } from './gateway-kernels.js';
import { KeptKernels } from './kept-kernels.js';
import type { KernelProvider } from './kernel-provider.js';
import {
  KernelLauncher,
  kernelsDirOf,
  type WorkspaceEnvSource
} from './kernel-launcher.js';
import type { KernelUsers } from './kernel-users.js';
import { instanceIdOf, leaseOwnerId } from './lease-owner.js';
import type { Notifier } from './recorder.js';

export interface RunServiceOptions {
  store: Store;
  hub?: Notifier;
  /** The Python that has ipykernel; default: startKernel's (VIRTUAL_ENV, nearest .venv, python3). */
  kernelPython?: string;
  /** Notebooks deployed from under this folder run in their own folder. */
  rootDir?: string;
  /** Kernels of flows without a notebook folder run in `<dataDir>/flows/<flowId>`. */
  dataDir: string;
  /** How many runs execute at once in this process (default 4). */
  maxConcurrentRuns?: number;
  /**
   * Who holds the leases (default: `instance:<id>:<host>:<pid>:<random>`, the data dir's instance id,
   * so a successor on the data dir or host recognises them: lease-owner.ts).
   */
  ownerId?: string;
  /** The data dir's instance id in the default owner (default: read or made in the data dir). */
  instanceId?: string;
  /**
   * Lease length (default 15 s); renewed every third of it while the run executes, and runs whose lease
   * ran out are crashed at least that often.
   */
  leaseMs?: number;
  /** The safety re-check for Pending runs nobody woke us for (default 5 s). */
  recheckMs?: number;
  outputCapBytes?: number;
  interruptGraceMs?: number;
  /**
   * How long the kernel of a run that ended Failed is kept alive for a retry to continue in
   * (default 5 minutes; 0 keeps none).
   */
  retryGraceMs?: number;
  /** At most this many such kernels are kept; the oldest is shut down first (default 4). */
  maxKeptKernels?: number;
  /**
   * Kernels kept started ahead of runs, so a run does not wait for one to start (default 1; 0 starts
   * each run's kernel when the run starts).
   */
  warmKernels?: number;
  /**
   * How local kernels are isolated: resolved (start.ts does it once, to say so at start), or a mode
   * to resolve here (default 'auto': the sandbox wherever bubblewrap works).
   */
  isolation?: KernelIsolation | IsolationMode | 'auto';
  /** The workspaces' variables and secrets, put in their kernels' environment. */
  secrets?: WorkspaceEnvSource;
  /** Each workspace's kernels as an OS user of its own (`--kernel-user`). */
  kernelUsers?: KernelUsers;
  /** Told each run's kernel once it runs, also a kept kernel a retry continues in (tests). */
  onKernel?: (runId: string, kernel: RunKernel) => void;
  /** Told each run's end state (tests, metrics). */
  onRunEnded?: (run: FlowRun, state: FlowRunState) => void;
  /** The work pools whose runs this process executes (default: `default` only). */
  pools?: readonly string[];
  /** How this process shows in the workers list (default: `<host>:<pid>`). */
  workerName?: string;
  /**
   * False for an API server without an executor (`cellflow server --no-executor`): it claims nothing
   * and is no worker, but still crashes the runs of dead workers when their lease runs out.
   */
  executes?: boolean;
  /**
   * Kernels from this Jupyter Kernel Gateway or Enterprise Gateway (`--kernel-gateway`) instead of
   * local processes.
   */
  kernelGateway?: KernelGateway;
}

/** The reason a user's cancel leaves on the run (the same words the API writes for a run not yet started). */
export const CANCEL_REASON = 'Cancelled by user';

export const DEFAULT_RETRY_GRACE_MS = 300_000;
/** One kernel started ahead: a run's start no longer waits for a Python process (~300 ms here). */
export const DEFAULT_WARM_KERNELS = 1;

export const DEFAULT_LEASE_MS = 15_000;

export const LEASE_EXPIRED_REASON =
  'the process running it stopped renewing its lease (it died or lost the store)';

export class RunService implements RunController {
  readonly ownerId: string;
  private readonly max: number;
  private readonly leaseMs: number;
  private readonly kernelPython: string;
  private readonly executions = new Map<string, RunExecution>();
  private readonly finished = new Set<Promise<void>>();
  /** Each executing run's end (written, then told): see whenEnded. */
  private readonly ending = new Map<string, Promise<void>>();
  private readonly kept: KeptKernels;
  private readonly kernels: KernelProvider;
  private readonly localIsolation: KernelIsolation;
  private pumping = false;
  private pumpAgain = false;
  private started = false;
  private closed = false;
  private recheck: NodeJS.Timeout | null = null;
  private sweep: NodeJS.Timeout | null = null;
  private sweeping = false;
  private heartbeat: NodeJS.Timeout | null = null;
  /** Draining: nothing new is claimed, what runs goes on to its end. */
  private draining = false;
  readonly pools: readonly string[];

  constructor(private readonly options: RunServiceOptions) {
    this.max = options.maxConcurrentRuns ?? 4;
    if (!Number.isInteger(this.max) || this.max < 1) {
      throw new RangeError(
        `maxConcurrentRuns must be a whole number of at least 1, got ${options.maxConcurrentRuns}`
      );
    }
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    if (!(this.leaseMs > 0)) {
      throw new RangeError(`leaseMs must be positive, got ${options.leaseMs}`);
    }
    this.kept = new KeptKernels({
      graceMs: options.retryGraceMs ?? DEFAULT_RETRY_GRACE_MS,
      max: options.maxKeptKernels
    });
    // Resolved from the server's folder: a kernel's own folder (a notebook's, a flow's) has no .venv.
    this.kernelPython = options.kernelPython ?? defaultPython();
    const warmKernels = options.warmKernels ?? DEFAULT_WARM_KERNELS;
    if (!Number.isInteger(warmKernels) || warmKernels < 0) {
      throw new RangeError(
        `warmKernels must be a whole number of at least 0, got ${options.warmKernels}`
      );
    }
    const isolation =
      typeof options.isolation === 'object'
        ? options.isolation
        : resolveIsolation({
            mode: options.isolation,
            python: this.kernelPython,
            dataDir: options.dataDir,
            rootDir: options.rootDir
          });
    this.localIsolation = isolation;
    const onWarmError = (error: unknown) =>
      console.warn(`cellflow: a warm kernel did not start: ${message(error)}`);
    this.kernels = options.kernelGateway
      ? new GatewayKernels({
          gateway: options.kernelGateway,
          secrets: options.secrets,
          warmKernels,
          onWarmError
        })
      : new KernelLauncher({
          python: this.kernelPython,
          isolation,
          kernelsDir: kernelsDirOf(options.dataDir),
          secrets: options.secrets,
          users: options.kernelUsers,
          flowsDir: join(options.dataDir, 'flows'),
          warmKernels,
          onWarmError,
          ...(options.workerName
            ? { where: `worker ${options.workerName}` }
            : {})
        });
    this.ownerId =
      options.ownerId ??
      leaseOwnerId(options.instanceId ?? instanceIdOf(options.dataDir));
    this.pools = [...new Set(options.pools ?? [DEFAULT_POOL])];
    for (const pool of this.pools) {
      checkPoolName(pool);
    }
  }

  /** Begins claiming. Runs left Running by a dead process are the caller's to crash first (start.ts). */
  start(): void {
    if (this.started || this.closed) {
      return;
    }
    this.started = true;
    if (this.options.executes === false) {
      this.draining = true; // claims nothing, ever
    } else {
      // Listed as a worker of its pools, so a run of a pool nobody serves can say it waits for one.
      void this.registerWorker();
      // At least every 5 s, whatever the lease: the API counts a worker as there for 30 s (waiting-for.ts).
      this.heartbeat = setInterval(
        () => void this.beat(),
        Math.min(5000, Math.max(1000, Math.floor(this.leaseMs / 3)))
      );
      this.heartbeat.unref();
    }
    const every = this.options.recheckMs ?? 5000;
    this.recheck = setInterval(() => {
      void this.sweepExpiredLeases().then(() => this.wake());
    }, every);
    this.recheck.unref();
    // A dead process's runs are crashed within a lease and a third of one, whatever the re-check.
    const sweepEvery = Math.max(1, Math.floor(this.leaseMs / 3));
    if (sweepEvery < every) {
      this.sweep = setInterval(
        () => void this.sweepExpiredLeases(),
        sweepEvery
      );
      this.sweep.unref();
    }
    this.wake();
  }

  /** How this service's local kernels are isolated (a gateway's kernels are isolated by the gateway). */
  get isolation(): KernelIsolation {
    return this.localIsolation;
  }

  /** The kernel provider (warm kernels; tests and benchmarks). */
  get launcher(): KernelProvider {
    return this.kernels;
  }

  /** The ids of the runs executing here now. */
  get running(): string[] {
    return [...this.executions.keys()];
  }

  wake(): void {
    if (!this.started || this.closed || this.draining) {
      return;
    }
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    void this.pump();
  }

  async cancel(runId: string): Promise<boolean> {
    const execution = this.executions.get(runId);
    if (!execution) {
      return false;
    }
    execution.interrupt(CANCEL_REASON, 'Cancelled');
    return true;
  }

  whenEnded(runId: string): Promise<void> {
    return this.ending.get(runId) ?? Promise.resolve();
  }

  /**
   * Drains (a worker's SIGTERM): claims nothing new, lets the runs executing here end as they end, and
   * says so in the workers list meanwhile. close() afterwards stops the rest.
   */
  async drain(): Promise<void> {
    this.draining = true;
    await this.beat();
    while (this.finished.size > 0 || this.pumping) {
      await Promise.race([
        ...this.finished,
        new Promise(r => setTimeout(r, 50))
      ]);
    }
  }

  /** True once drain() was called. */
  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * Stops claiming, stops the runs executing here (they end Crashed with the reason, their kernels
   * shut down), waits for them to be written, and shuts down the kernels kept for retries.
   */
  async close(
    reason = 'the server stopped while the run was running'
  ): Promise<void> {
    const wasStarted = this.started && !this.closed;
    this.closed = true;
    if (this.recheck) {
      clearInterval(this.recheck);
    }
    if (this.sweep) {
      clearInterval(this.sweep);
    }
    if (this.heartbeat) {
      clearInterval(this.heartbeat);
    }
    // From now on nothing is kept: a run ending meanwhile stops its own kernel.
    const keptClosed = Promise.all([this.kept.close(), this.kernels.close()]);
    for (const execution of this.executions.values()) {
      execution.interrupt(reason, 'Crashed');
    }
    while (this.finished.size > 0 || this.pumping) {
      await Promise.race([...this.finished, new Promise(r => setImmediate(r))]);
    }
    await keptClosed;
    if (wasStarted && this.options.executes !== false) {
      await this.options.store
        .removeWorker(this.ownerId)
        .catch(() => undefined); // gone from the list within a lease anyway
    }
  }

  private async registerWorker(): Promise<void> {
    try {
      await this.options.store.registerWorker({
        id: this.ownerId,
        name: this.options.workerName ?? `${hostname()}:${process.pid}`,
        pools: this.pools,
        host: hostname()
      });
    } catch (error) {
      console.error(
        `Cellflow: registering as a worker of ${this.pools.join(', ')} failed: ${describeStoreError(error)}`
      );
    }
  }

  /** Renews this worker's heartbeat; registers again when it was forgotten (a long outage). */
  private async beat(): Promise<void> {
    if (this.closed || !this.started) {
      return;
    }
    try {
      const known = await this.options.store.heartbeatWorker(
        this.ownerId,
        this.draining
      );
      if (!known && !this.draining) {
        await this.registerWorker();
      }
    } catch (error) {
      console.error(
        `Cellflow: the worker heartbeat failed: ${describeStoreError(error)}`
      );
    }
  }

  /**
   * Runs whose owner stopped renewing their lease (a worker or server that died without a restart on
   * the same store) are Crashed, so none stays Running forever. Our own runs renew every third of the
   * lease, so they are never caught here while their process lives.
   */
  private async sweepExpiredLeases(): Promise<void> {
    if (this.closed || this.sweeping) {
      return;
    }
    this.sweeping = true;
    try {
      const crashed = await this.options.store.crashRunningRuns(
        LEASE_EXPIRED_REASON,
        {
          leaseExpiredBefore: new Date()
        }
      );
      for (const run of crashed) {
        this.notify(run.workspaceId);
      }
      await this.retryCrashed(crashed);
    } catch (error) {
      console.error(
        `Cellflow: crashing runs with expired leases failed: ${describeStoreError(error)}`
      );
    } finally {
      this.sweeping = false;
    }
  }

  /** The automatic retries of runs this process marked Crashed (their flows' `retries`). */
  retryCrashed(crashed: readonly FlowRun[]): Promise<FlowRun[]> {
    return retryCrashedRuns(this.options.store, crashed, {
      notify: workspaceId => this.notify(workspaceId),
      wake: () => this.wake()
    });
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        while (
          !this.closed &&
          !this.draining &&
          this.executions.size < this.max
        ) {
          let run: FlowRun | null;
          try {
            run = await this.options.store.claimNextPendingRun({
              owner: this.ownerId,
              leaseMs: this.leaseMs,
              pools: this.pools
            });
          } catch (error) {
            console.error(
              `Cellflow: claiming a pending run failed: ${describeStoreError(error)}`
            );
            break;
          }
          if (!run) {
            break;
          }
          this.notify(run.workspaceId);
          this.begin(run);
        }
      } while (this.pumpAgain && !this.closed);
    } finally {
      this.pumping = false;
    }
  }

  private begin(run: FlowRun): void {
    const execution = new RunExecution({
      store: this.options.store,
      hub: this.options.hub,
      run,
      dataDir: this.options.dataDir,
      rootDir: this.options.rootDir,
      kernels: this.kernels,
      outputCapBytes: this.options.outputCapBytes,
      interruptGraceMs: this.options.interruptGraceMs,
      onKernel: kernel => this.options.onKernel?.(run.id, kernel),
      takeKeptKernel: runId => this.kept.take(runId),
      keepKernel: kept => this.kept.keep(kept)
    });
    this.executions.set(run.id, execution);
    if (this.closed) {
      execution.interrupt(
        'the server stopped before the run started',
        'Crashed'
      );
    }

    // Keep the lease while the run executes; losing it means another process may have crashed the run.
    const renew = setInterval(
      () => {
        this.options.store.renewLease(run.id, this.ownerId, this.leaseMs).then(
          async held => {
            if (held) {
              return;
            }
            // Cancelled through another process's API, or crashed by a sweep: stop either way.
            const now = await this.options.store
              .getRunById(run.id)
              .catch(() => null);
            if (now?.state === 'Cancelled') {
              execution.interrupt(
                now.stateReason ?? CANCEL_REASON,
                'Cancelled'
              );
            } else {
              execution.interrupt('the run lost its lease', 'Crashed');
            }
          },
          error =>
            console.error(
              `Cellflow: renewing the lease of run ${run.id} failed: ${describeStoreError(error)}`
            )
        );
      },
      Math.max(1000, Math.floor(this.leaseMs / 3))
    );
    renew.unref();

    const done: Promise<void> = execution.execute().then(
      async state => {
        clearInterval(renew);
        if (state === 'Crashed' && execution.endWritten) {
          // Only when this execution wrote the crash: a sweep that crashed the run retries it itself.
          const ended = await this.options.store
            .getRunById(run.id)
            .catch(() => null);
          if (ended) {
            await this.retryCrashed([ended]);
          }
        }
        this.executions.delete(run.id);
        this.ending.delete(run.id);
        this.finished.delete(done);
        try {
          this.options.onRunEnded?.(run, state);
        } catch {
          // A listener's failure is not the run's.
        }
        this.wake();
      },
      () => undefined // execute() never rejects
    );
    this.finished.add(done);
    this.ending.set(run.id, done);
  }

  private notify(workspaceId: string): void {
    try {
      this.options.hub?.notify(workspaceId);
    } catch {
      // A broken listener must not stop claiming.
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
