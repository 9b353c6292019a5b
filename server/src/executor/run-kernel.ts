/**
 * What a run needs of its kernel beyond the run loop's FlowKernel: whether it is gone, how to stop it,
 * and what the executed notebook records of it. Both kernel providers give one: ZmqKernel (a local
 * process, start-kernel.ts) and GatewayKernel (a kernel of a Jupyter Kernel Gateway or Enterprise
 * Gateway, gateway-kernel.ts).
 */
import type { FlowKernel } from '../../../src/flow/kernel.js';
import type { WidgetState } from './widget-state.js';

export interface KernelExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all, or a gateway kernel was lost. */
  error?: Error;
}

export interface RunKernel extends FlowKernel {
  /** True once the kernel is gone (exited, died, restarted by its gateway, or shut down). */
  readonly dead: boolean;
  /** Resolves once the kernel is gone and what it left was cleaned up (never rejects). */
  readonly exited: Promise<KernelExit>;
  /** The kernel_info_reply content, once ready. */
  readonly kernelInfo: Record<string, unknown> | null;
  /** The ipywidgets models its code showed (the executed notebook's `metadata.widgets`). */
  readonly widgets: WidgetState;
  /** Asks the kernel to stop; forces it after `timeoutMs`. */
  shutdown(timeoutMs?: number): Promise<KernelExit>;
  /** Stops it now: for a kernel that does not answer. */
  kill(): Promise<KernelExit>;
}
