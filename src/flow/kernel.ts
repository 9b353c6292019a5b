/**
 * The small kernel interface the run loop needs. The server implements it over ZeroMQ, the extension
 * over JupyterLab's kernel connection: the loop itself is written once, in runner.ts.
 */

/** An nbformat 4 output (stream, display_data, execute_result, error), as JSON. */
export interface KernelOutput {
  output_type: 'stream' | 'display_data' | 'execute_result' | 'error';
  [key: string]: unknown;
}

/** `clear_output`: not an output but an instruction to the cell's outputs (output-area.ts). */
export interface ClearOutput {
  output_type: 'clear_output';
  /** Clear just before the next output arrives, not now. */
  wait: boolean;
}

/** `update_display_data`: new data for the earlier outputs of `transient.display_id`. */
export interface DisplayUpdate {
  output_type: 'update_display_data';
  data: unknown;
  metadata: unknown;
  transient: { display_id?: unknown };
}

/**
 * What a kernel reports for a request, in order: outputs (display_data and execute_result carry
 * `transient` when they have a display_id) and the two instructions. OutputArea (output-area.ts) turns
 * them into the cell's nbformat outputs.
 */
export type IopubOutput = KernelOutput | ClearOutput | DisplayUpdate;

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
  onOutput?: (output: IopubOutput) => void;
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
 * An iopub message (its type and content) as an nbformat 4 output or an instruction about outputs
 * (IopubOutput), or null for types that are neither. Shared by the server's ZeroMQ kernel and the
 * lab's kernel connection; the run loop applies the result with OutputArea.
 */
export function iopubToOutput(
  type: string,
  content: Record<string, unknown>
): IopubOutput | null {
  switch (type) {
    case 'stream':
      return { output_type: 'stream', name: content.name, text: content.text };
    case 'display_data':
      return {
        output_type: 'display_data',
        data: content.data,
        metadata: content.metadata ?? {},
        ...withDisplayId(content)
      };
    case 'update_display_data':
      return {
        output_type: 'update_display_data',
        data: content.data,
        metadata: content.metadata ?? {},
        transient: withDisplayId(content).transient ?? {}
      };
    case 'clear_output':
      return { output_type: 'clear_output', wait: content.wait === true };
    case 'execute_result':
      return {
        output_type: 'execute_result',
        execution_count: content.execution_count ?? null,
        data: content.data,
        metadata: content.metadata ?? {},
        ...withDisplayId(content)
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

/** `transient` with its display_id, only when the message has one (it is never stored). */
function withDisplayId(content: Record<string, unknown>): {
  transient?: { display_id: string };
} {
  const transient = content.transient;
  if (typeof transient !== 'object' || transient === null) {
    return {};
  }
  const id = (transient as { display_id?: unknown }).display_id;
  return typeof id === 'string' && id !== ''
    ? { transient: { display_id: id } }
    : {};
}
