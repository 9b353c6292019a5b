/**
 * The small kernel interface the run loop needs. The server implements it over ZeroMQ, the extension
 * over JupyterLab's kernel connection: the loop itself is written once, in runner.ts.
 */

/** An nbformat 4 output (stream, display_data, execute_result, error), as JSON. */
export interface KernelOutput {
  output_type:
    | 'stream'
    | 'display_data'
    | 'execute_result'
    | 'error'
    | 'update_display_data';
  [key: string]: unknown;
}

export interface ExecuteResult {
  /** The execute_reply status. `aborted` happens when an earlier request failed or was interrupted. */
  status: 'ok' | 'error' | 'aborted';
  ename?: string;
  evalue?: string;
  traceback?: string[];
  executionCount?: number | null;
}

export interface ExecuteOptions {
  /** Called for every output of this request, in order, as it arrives. */
  onOutput?: (output: KernelOutput) => void;
  /** Store the code in the kernel's history; false for Cellflow's own plumbing (magic, parameters). */
  storeHistory?: boolean;
  /** No outputs published, no execution count: for plumbing. */
  silent?: boolean;
}

export interface FlowKernel {
  /**
   * Run code; resolves once both the execute_reply and the kernel's matching idle status arrived.
   * Rejects with KernelDiedError when the kernel dies before that.
   */
  execute(code: string, options?: ExecuteOptions): Promise<ExecuteResult>;
  /** Interrupt the running request (SIGINT or interrupt_request). */
  interrupt(): Promise<void>;
}

/** Thrown by FlowKernel.execute when the kernel process went away. */
export class KernelDiedError extends Error {
  constructor(message = 'The kernel died') {
    super(message);
    this.name = 'KernelDiedError';
  }
}

/**
 * An iopub message (its type and content) as an nbformat 4 output, or null for types that are not
 * outputs. Shared by the server's ZeroMQ kernel and the lab's kernel connection.
 */
export function iopubToOutput(
  type: string,
  content: Record<string, unknown>
): KernelOutput | null {
  switch (type) {
    case 'stream':
      return { output_type: 'stream', name: content.name, text: content.text };
    case 'display_data':
      return {
        output_type: 'display_data',
        data: content.data,
        metadata: content.metadata ?? {}
      };
    case 'update_display_data':
      // Not an nbformat output: kept with its transient display_id so a consumer can update in place.
      return {
        output_type: 'update_display_data',
        data: content.data,
        metadata: content.metadata ?? {},
        transient: content.transient ?? {}
      };
    case 'execute_result':
      return {
        output_type: 'execute_result',
        execution_count: content.execution_count ?? null,
        data: content.data,
        metadata: content.metadata ?? {}
      };
    case 'error':
      return {
        output_type: 'error',
        ename: content.ename,
        evalue: content.evalue,
        traceback: content.traceback
      };
    default:
      return null;
  }
}
