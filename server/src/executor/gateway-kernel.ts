/**
 * A kernel of a Jupyter Kernel Gateway or Jupyter Enterprise Gateway, driven with the Jupyter project's
 * own client (`@jupyterlab/services`' KernelConnection over the gateway's WebSocket). The run loop
 * talks to it through ConnectionFlowKernel, the same FlowKernel the lab's "Run here" uses.
 *
 * Decisions:
 * - A kernel that dies is restarted by its gateway (jupyter_server's auto-restart), and the connection
 *   then reports `autorestarting`/`restarting`. For a run that is a death like a local one (its state is
 *   gone): the kernel counts as dead, its pending request fails with KernelDiedError, and the restarted
 *   kernel is deleted, so nothing is left on the gateway.
 * - A connection given up (the gateway gone for longer than the client's reconnect attempts) is a
 *   death too.
 * - Comms are not handled here (`handleComms: false`): a client that handles them answers an unknown
 *   target's `comm_open` with `comm_close`, which would close the widgets the run's code shows. Their
 *   messages are only read, for the executed notebook's widget state.
 */
import { KernelConnection } from '@jupyterlab/services/lib/kernel/default.js';
import type { IModel } from '@jupyterlab/services/lib/kernel/restapi.js';
import type { ServerConnection } from '@jupyterlab/services';

import { ConnectionFlowKernel } from '../../../src/flow/connection-kernel.js';
import {
  ExecuteOptions,
  ExecuteResult,
  KernelDiedError
} from '../../../src/flow/kernel.js';
import type { KernelExit, RunKernel } from './run-kernel.js';
import { WidgetState } from './widget-state.js';

export interface GatewayKernelOptions {
  model: IModel;
  settings: ServerConnection.ISettings;
  /** Where the kernel is, for messages: the gateway's URL. */
  gateway: string;
  /** Deletes the kernel on its gateway (DELETE /api/kernels/<id>); resolves whatever the answer. */
  deleteKernel: (id: string) => Promise<void>;
}

const GONE_STATES = new Set(['dead', 'restarting', 'autorestarting']);

/**
 * The client's connection, with a reconnect that never rejects. On a gateway's auto-restart the client
 * reconnects by itself, in a promise nobody awaits (`void …then(() => this.reconnect())`): when that
 * fails, because the kernel was deleted or the connection disposed meanwhile, the rejection would be
 * unhandled, which ends a Node process. A lost connection is seen through its status instead.
 */
class GatewayConnection extends KernelConnection {
  reconnect(): Promise<void> {
    try {
      return super.reconnect().catch(() => undefined);
    } catch {
      return Promise.resolve(); // disposed
    }
  }
}

export class GatewayKernel implements RunKernel {
  readonly id: string;
  readonly widgets = new WidgetState();
  readonly exited: Promise<KernelExit>;
  kernelInfo: Record<string, unknown> | null = null;

  private readonly connection: GatewayConnection;
  private readonly flowKernel: ConnectionFlowKernel;
  private gone: KernelExit | null = null;
  private resolveExited!: (exit: KernelExit) => void;
  private deleting: Promise<void> | null = null;

  constructor(private readonly options: GatewayKernelOptions) {
    this.id = options.model.id;
    this.exited = new Promise(resolve => {
      this.resolveExited = resolve;
    });
    this.connection = new GatewayConnection({
      model: options.model,
      serverSettings: options.settings,
      username: 'cellflow',
      handleComms: false
    });
    this.flowKernel = new ConnectionFlowKernel(this.connection, {
      stopOnError: false
    });
    this.connection.iopubMessage.connect((_, msg) => {
      // Widget models change from any request (and from none), so they are kept kernel-wide.
      this.widgets.add(msg.header.msg_type, msg.content);
    });
    const watch = (): void => {
      if (GONE_STATES.has(this.connection.status)) {
        this.lost(`its gateway reported it ${this.connection.status}`);
      } else if (this.connection.connectionStatus === 'disconnected') {
        this.lost('the connection to its gateway was lost');
      }
    };
    this.connection.statusChanged.connect(watch);
    this.connection.connectionStatusChanged.connect(watch);
  }

  get dead(): boolean {
    return this.gone !== null;
  }

  /**
   * Resolves once the kernel answered the kernel_info_request the connection sends as soon as its
   * WebSocket is open (a request sent before that is refused, not queued).
   */
  async waitReady(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `The kernel ${this.id} of ${this.options.gateway} was not ready after ${timeoutMs} ms`
            )
          ),
        timeoutMs
      );
    });
    const died = new Promise<never>((_, reject) => {
      void this.exited.then(exit =>
        reject(exit.error ?? new KernelDiedError('The kernel is gone'))
      );
    });
    try {
      const info = await Promise.race([this.connection.info, timeout, died]);
      this.kernelInfo = info as unknown as Record<string, unknown>;
    } finally {
      clearTimeout(timer);
    }
  }

  execute(code: string, options?: ExecuteOptions): Promise<ExecuteResult> {
    if (this.gone) {
      return Promise.reject(this.diedError());
    }
    return this.flowKernel.execute(code, options).catch(error => {
      throw error instanceof KernelDiedError && this.gone
        ? this.diedError()
        : error;
    });
  }

  /** POST /api/kernels/<id>/interrupt: the gateway interrupts the kernel its own way (a signal, or a message). */
  interrupt(): Promise<void> {
    return this.flowKernel.interrupt();
  }

  /** DELETE /api/kernels/<id>: the gateway asks the kernel to stop and kills it if it does not. */
  async shutdown(timeoutMs = 5000): Promise<KernelExit> {
    if (!this.gone) {
      this.end({ code: 0, signal: null }, timeoutMs);
    }
    return this.exited;
  }

  /** The same as shutdown: a gateway has no kill of its own, and its DELETE ends the kernel either way. */
  kill(): Promise<KernelExit> {
    return this.shutdown(2000);
  }

  private lost(why: string): void {
    if (this.gone) {
      return;
    }
    this.end(
      {
        code: null,
        signal: null,
        error: new KernelDiedError(
          `The kernel ${this.id} of ${this.options.gateway} died (${why})`
        )
      },
      2000
    );
  }

  /** Marks the kernel gone, deletes it on the gateway (a restarted one included), then resolves exited. */
  private end(exit: KernelExit, timeoutMs: number): void {
    this.gone = exit;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>(resolve => {
      timer = setTimeout(resolve, timeoutMs);
    });
    this.deleting ??= this.options.deleteKernel(this.id).catch(() => undefined);
    void Promise.race([this.deleting, late]).then(() => {
      clearTimeout(timer);
      // Disposing rejects the connection's pending kernel-info promise (a new one is made at each
      // restart): nobody waits on it, and an unhandled rejection would end the server.
      this.connection.info.catch(() => undefined);
      this.connection.dispose();
      this.resolveExited(exit);
    });
  }

  private diedError(): KernelDiedError {
    const error = this.gone?.error;
    return error instanceof KernelDiedError
      ? error
      : new KernelDiedError(
          `The kernel ${this.id} of ${this.options.gateway} is gone`
        );
  }
}
