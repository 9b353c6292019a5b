import type { KernelMessage } from '@jupyterlab/services';
import type { IKernelConnection } from '@jupyterlab/services/lib/kernel/kernel';

import {
  ExecuteOptions,
  ExecuteResult,
  FlowKernel,
  iopubToOutput,
  KernelDiedError
} from './kernel.js';

export interface ConnectionFlowKernelOptions {
  /**
   * The execute_request's stop_on_error. The lab sends true, as a notebook's own Run does; the server
   * sends false, as its ZeroMQ kernel does (zmq-kernel.ts says why).
   */
  stopOnError?: boolean;
}

/**
 * FlowKernel over a `@jupyterlab/services` kernel connection: the notebook's own kernel for "Run here"
 * in the lab, and a kernel of a Jupyter Kernel Gateway or Enterprise Gateway on the server
 * (gateway-kernel.ts), so both run the one run loop. A kernel that dies, restarts or loses its
 * connection mid-request fails the request with KernelDiedError.
 */
export class ConnectionFlowKernel implements FlowKernel {
  constructor(
    private readonly kernel: IKernelConnection,
    private readonly options: ConnectionFlowKernelOptions = {}
  ) {}

  async execute(
    code: string,
    options: ExecuteOptions = {}
  ): Promise<ExecuteResult> {
    const kernel = this.kernel;
    if (kernel.isDisposed || kernel.status === 'dead') {
      throw new KernelDiedError('The notebook kernel is not running');
    }
    const future = kernel.requestExecute(
      {
        code,
        silent: options.silent ?? false,
        store_history: options.storeHistory ?? !(options.silent ?? false),
        stop_on_error: this.options.stopOnError ?? true,
        allow_stdin: false
      },
      true
    );
    const forward = (msg: KernelMessage.IIOPubMessage) => {
      if (options.silent) {
        return; // ipykernel still publishes streams of a silent request; FlowKernel promises none
      }
      const output = iopubToOutput(
        msg.header.msg_type,
        msg.content as Record<string, unknown>
      );
      if (output) {
        options.onOutput?.(output);
      }
    };
    // The kernel connection hands an update_display_data to the request that first showed its
    // display id, not to ours: a display shown by an earlier cell would never hear of it. So updates
    // are taken from the connection's stream of all iopub messages, by our request's id, and only there.
    future.onIOPub = msg => {
      if (msg.header.msg_type !== 'update_display_data') {
        forward(msg);
      }
    };
    const requestId = future.msg.header.msg_id;
    const onIopub = (
      _: IKernelConnection,
      msg: KernelMessage.IIOPubMessage
    ) => {
      if (
        msg.header.msg_type === 'update_display_data' &&
        (msg.parent_header as Partial<KernelMessage.IHeader>).msg_id ===
          requestId
      ) {
        forward(msg);
      }
    };
    kernel.iopubMessage.connect(onIopub);
    let onStatus: (() => void) | null = null;
    const died = new Promise<never>((_, reject) => {
      onStatus = () => {
        if (['dead', 'restarting', 'autorestarting'].includes(kernel.status)) {
          reject(new KernelDiedError(`The kernel is ${kernel.status}`));
        } else if (kernel.connectionStatus === 'disconnected') {
          // Given up reconnecting: no reply can come any more.
          reject(new KernelDiedError('The connection to the kernel was lost'));
        }
      };
      kernel.statusChanged.connect(onStatus);
      kernel.connectionStatusChanged.connect(onStatus);
    });
    try {
      const reply = (await Promise.race([
        future.done,
        died
      ])) as KernelMessage.IExecuteReplyMsg;
      const content = reply.content;
      if (content.status === 'error') {
        return {
          status: 'error',
          ename: content.ename,
          evalue: content.evalue,
          traceback: content.traceback,
          executionCount: content.execution_count
        };
      }
      return {
        status: content.status === 'ok' ? 'ok' : 'aborted',
        executionCount:
          'execution_count' in content ? content.execution_count : null
      };
    } catch (error) {
      if (error instanceof KernelDiedError) {
        throw error;
      }
      // future.done rejects when the kernel connection is disposed or the request is cancelled.
      throw new KernelDiedError(
        error instanceof Error ? error.message : String(error)
      );
    } finally {
      if (onStatus) {
        kernel.statusChanged.disconnect(onStatus);
        kernel.connectionStatusChanged.disconnect(onStatus);
      }
      kernel.iopubMessage.disconnect(onIopub);
      future.dispose();
    }
  }

  async interrupt(): Promise<void> {
    await this.kernel.interrupt();
  }
}
