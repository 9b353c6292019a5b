/**
 * Where a run's kernel comes from: the one interface of the two kernel providers, local processes
 * (KernelLauncher: ZeroMQ, sandboxed) and a Jupyter Kernel Gateway or Enterprise Gateway
 * (GatewayKernels). The run (execution.ts) sees only this.
 */
import { createHash } from 'node:crypto';

import type { RunKernel } from '../executor/index.js';
import type { Kernelspec } from '../executor/kernelspecs.js';
import type { KernelUser } from '../executor/start-kernel.js';
import { WarmKernels, type KernelProfile } from './warm-kernels.js';

export interface LaunchProfile extends KernelProfile {
  readonly workspaceId: string;
  readonly cwd: string;
  /** The workspace's variables and secrets: the kernel's environment. */
  readonly env: Record<string, string>;
  /** The workspace's OS user, with `--kernel-user` (local kernels). */
  readonly user?: KernelUser;
  /** The flow's kernelspec, when it is not the default python3. */
  readonly kernelspec?: Kernelspec;
}

export interface KernelProvider {
  /** Where kernels run, for messages: "this server", "worker W", "the kernel gateway URL". */
  readonly where: string;
  /**
   * The kernelspec of that name: null for the default python3, else the provider's; throws
   * KernelspecNotInstalledError (naming it and those there are) when there is none.
   */
  kernelspec(name: string): Promise<Kernelspec | null>;
  /** The profile of a run of this workspace in this folder (its secrets read now), on a kernelspec. */
  profile(
    workspaceId: string,
    cwd: string,
    kernelspec?: Kernelspec | null
  ): Promise<LaunchProfile>;
  /** A kernel for the run: a warm one of its profile, else one started now. */
  start(profile: LaunchProfile): Promise<RunKernel>;
  /** Starts a kernel ahead for this profile's next run. */
  prepare(profile: LaunchProfile): void;
  readonly warmReady: number;
  whenWarmSettled(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A run's profile: same key, same kernel (a warm kernel serves only runs of its workspace, folder,
 * environment and kernelspec: see WarmKernels).
 */
export function launchProfile(
  workspaceId: string,
  cwd: string,
  env: Record<string, string>,
  kernelspec?: Kernelspec | null,
  user?: KernelUser
): LaunchProfile {
  const key = createHash('sha256')
    .update(
      JSON.stringify([
        workspaceId,
        cwd,
        Object.entries(env).sort(),
        kernelspec ? [kernelspec.dir, kernelspec.argv, kernelspec.env] : null
      ])
    )
    .digest('hex');
  return {
    key,
    workspaceId,
    cwd,
    env,
    ...(user ? { user } : {}),
    ...(kernelspec ? { kernelspec } : {})
  };
}

/**
 * What both providers share: a run's kernel is a warm one of its profile when there is one, else one
 * started now (`startCold`, the provider's own), and each take starts the profile's next one ahead.
 */
export abstract class WarmStartingProvider {
  private readonly warm: WarmKernels<LaunchProfile>;

  constructor(size: number, onWarmError?: (error: unknown) => void) {
    this.warm = new WarmKernels<LaunchProfile>(
      profile => this.startCold(profile),
      size,
      onWarmError
    );
  }

  /** A kernel for the run: a warm one of its profile, else one started now. */
  async start(profile: LaunchProfile): Promise<RunKernel> {
    return (await this.warm.take(profile)) ?? this.startCold(profile);
  }

  /** Starts a kernel ahead for this profile's next run. */
  prepare(profile: LaunchProfile): void {
    this.warm.prepare(profile);
  }

  get warmReady(): number {
    return this.warm.readyCount;
  }

  whenWarmSettled(): Promise<void> {
    return this.warm.whenSettled();
  }

  close(): Promise<void> {
    return this.warm.close();
  }

  protected abstract startCold(profile: LaunchProfile): Promise<RunKernel>;
}
