/**
 * The gateway kernel provider (`--kernel-gateway URL`): a run's kernel is started by a Jupyter Kernel
 * Gateway or Enterprise Gateway, on whatever that gateway puts kernels (Kubernetes pods, Docker
 * containers, YARN, or its own machine), and driven over its WebSocket.
 *
 * Decisions:
 * - The kernelspec is the gateway's (GET /api/kernelspecs, asked at each run: a gateway's list can
 *   change); python3 too, since no kernel runs on this machine. One the gateway lacks fails the run,
 *   naming it and the gateway's.
 * - Isolation is the gateway's: its containers, its users (`KERNEL_USERNAME` names the workspace).
 *   The workspace's variables and secrets are set in the kernel's `os.environ` by a silent request
 *   right after it started (gateway.ts says why not in the start request). Flows are Python (the
 *   compiler refuses other languages), so that request is Python.
 * - The working folder is the gateway's: the run's folder is a path of this machine.
 * - Warm kernels work as for local ones: one started ahead per recent profile.
 */
import type { RunKernel } from '../executor/index.js';
import type { KernelGateway } from '../executor/gateway.js';
import {
  KernelspecNotInstalledError,
  type Kernelspec
} from '../executor/kernelspecs.js';
import type { WorkspaceEnvSource } from './kernel-launcher.js';
import {
  launchProfile,
  WarmStartingProvider,
  type KernelProvider,
  type LaunchProfile
} from './kernel-provider.js';

export interface GatewayKernelsOptions {
  gateway: KernelGateway;
  secrets?: WorkspaceEnvSource;
  warmKernels: number;
  onWarmError?: (error: unknown) => void;
}

const DEFAULT_KERNEL = 'python3';

export class GatewayKernels
  extends WarmStartingProvider
  implements KernelProvider
{
  constructor(private readonly options: GatewayKernelsOptions) {
    super(options.warmKernels, options.onWarmError);
  }

  get where(): string {
    return `the kernel gateway ${this.options.gateway.url}`;
  }

  async kernelspec(name: string): Promise<Kernelspec> {
    const specs = await this.options.gateway.kernelspecs();
    const spec = specs.get(name.toLowerCase());
    if (!spec) {
      throw new KernelspecNotInstalledError(
        name,
        [...specs.keys()].sort(),
        this.where
      );
    }
    return spec;
  }

  async profile(
    workspaceId: string,
    cwd: string,
    kernelspec?: Kernelspec | null
  ): Promise<LaunchProfile> {
    const env = (await this.options.secrets?.envFor(workspaceId)) ?? {};
    return launchProfile(workspaceId, cwd, env, kernelspec);
  }

  protected async startCold(profile: LaunchProfile): Promise<RunKernel> {
    const kernel = await this.options.gateway.startKernel(
      profile.kernelspec?.name ?? DEFAULT_KERNEL,
      { KERNEL_USERNAME: kernelUsername(profile.workspaceId) }
    );
    if (Object.keys(profile.env).length === 0) {
      return kernel;
    }
    try {
      const result = await kernel.execute(environmentCode(profile.env), {
        silent: true,
        storeHistory: false
      });
      if (result.status !== 'ok') {
        throw new Error(
          `the workspace's variables could not be set in the kernel: ${result.ename ?? result.status}`
        );
      }
    } catch (error) {
      await kernel.kill();
      throw error;
    }
    return kernel;
  }
}

/** A user name a gateway accepts (it may become a pod's or an OS user's name): the workspace's id. */
export function kernelUsername(workspaceId: string): string {
  const safe = workspaceId.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  return `cellflow-${safe}`.slice(0, 63).replace(/-+$/, '');
}

/**
 * Python that sets the variables in `os.environ` and leaves no name behind. The values travel as one
 * JSON string literal inside the code, never spliced as code themselves.
 */
export function environmentCode(env: Record<string, string>): string {
  const json = JSON.stringify(JSON.stringify(env));
  return [
    'def __cellflow_set_env():',
    '    import json, os',
    `    os.environ.update(json.loads(${json}))`,
    '__cellflow_set_env()',
    'del __cellflow_set_env'
  ].join('\n');
}
