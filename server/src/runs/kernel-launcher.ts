/**
 * Starts the kernel a run executes in: the server's Python, the run's working folder, the run's
 * workspace's variables and secrets as its environment (nothing of the server's), in this server's
 * isolation (isolation.ts), from the warm pool when a kernel of the same profile was started ahead.
 */
import { chown } from 'node:fs/promises';
import { join } from 'node:path';

import { startKernel, type RunKernel } from '../executor/index.js';
import { findKernelspec, type Kernelspec } from '../executor/kernelspecs.js';
import { isInside } from '../executor/sandbox.js';
import type { KernelIsolation } from './isolation.js';
import {
  launchProfile,
  WarmStartingProvider,
  type KernelProvider,
  type LaunchProfile
} from './kernel-provider.js';
import type { KernelUsers } from './kernel-users.js';

/** Where a workspace's variables and secrets come from (WorkspaceSecrets). */
export interface WorkspaceEnvSource {
  envFor(workspaceId: string): Promise<Record<string, string>>;
}

export interface KernelLauncherOptions {
  python: string;
  isolation: KernelIsolation;
  /** Kernel folders (connection file, IPYTHONDIR, HOME) are made here: `<dataDir>/kernels`. */
  kernelsDir: string;
  secrets?: WorkspaceEnvSource;
  /** Each workspace's kernels as an OS user of its own (`--kernel-user`). */
  users?: KernelUsers;
  /** Folders the server made for flows (`<dataDir>/flows`): given to the workspace's user. */
  flowsDir?: string;
  /** Kernels kept started ahead (see WarmKernels). */
  warmKernels: number;
  onWarmError?: (error: unknown) => void;
  /** How this process is named in messages (default "this server"). */
  where?: string;
}

/** The local kernel provider: kernel processes of this machine, over ZeroMQ, in its sandbox. */
export class KernelLauncher
  extends WarmStartingProvider
  implements KernelProvider
{
  constructor(private readonly options: KernelLauncherOptions) {
    super(options.warmKernels, options.onWarmError);
  }

  /**
   * The kernelspec of that name: null for python3 (the server's own), else the one on disk;
   * KernelspecNotInstalledError when there is none.
   */
  kernelspec(name: string): Promise<Kernelspec | null> {
    return findKernelspec(name, this.options.python, process.env, this.where);
  }

  get where(): string {
    return this.options.where ?? 'this server';
  }

  /** The profile of a run of this workspace in this folder (its secrets read now), on a kernelspec. */
  async profile(
    workspaceId: string,
    cwd: string,
    kernelspec?: Kernelspec | null
  ): Promise<LaunchProfile> {
    const env = (await this.options.secrets?.envFor(workspaceId)) ?? {};
    return launchProfile(
      workspaceId,
      cwd,
      env,
      kernelspec,
      this.options.users?.userFor(workspaceId)
    );
  }

  protected async startCold(profile: LaunchProfile): Promise<RunKernel> {
    const { flowsDir } = this.options;
    if (profile.user && flowsDir && isInside(flowsDir, profile.cwd)) {
      // A flow's own folder is its workspace's (a notebook's folder in the lab's tree stays its owner's).
      await chown(profile.cwd, profile.user.uid, profile.user.gid);
    }
    return startKernel({
      user: profile.user,
      python: this.options.python,
      cwd: profile.cwd,
      // A kernelspec's own variables first: the workspace's secrets win over them.
      env: { ...(profile.kernelspec?.env ?? {}), ...profile.env },
      ...(profile.kernelspec
        ? {
            argv: profile.kernelspec.argv,
            resourceDir: profile.kernelspec.dir
          }
        : {}),
      sandbox: this.options.isolation.sandbox,
      kernelsDir: this.options.kernelsDir
    });
  }
}

export function kernelsDirOf(dataDir: string): string {
  return join(dataDir, 'kernels');
}
