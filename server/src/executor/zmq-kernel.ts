/**
 * A Jupyter kernel driven over ZeroMQ (shell and control Dealers, iopub Subscriber), implementing the
 * run loop's FlowKernel. Started by startKernel (start-kernel.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import * as zmq from 'zeromq';
import {
  ExecuteOptions,
  ExecuteResult,
  iopubToOutput,
  KernelDiedError,
  IopubOutput
} from '../../../src/flow/kernel.js';
import { ConnectionInfo, endpoint } from './connection.js';
import {
  JupyterMessage,
  Signer,
  deserialize,
  makeHeader,
  serialize
} from './wire.js';
import { WidgetState } from './widget-state.js';

import type { KernelExit, RunKernel } from './run-kernel.js';

export type { KernelExit } from './run-kernel.js';

interface Execution {
  reply?: Record<string, unknown>;
  idle: boolean;
  onOutput?: (output: IopubOutput) => void;
  resolve: (result: ExecuteResult) => void;
  reject: (error: Error) => void;
}

interface Request {
  resolve: (message: JupyterMessage) => void;
  reject: (error: Error) => void;
}

/** One socket: a send queue (zeromq.js throws EBUSY on overlapping sends) and one receive loop. */
class Channel<S extends zmq.Dealer | zmq.Subscriber> {
  private queue: Promise<void> = Promise.resolve();

  constructor(readonly socket: S) {}

  send(frames: Buffer[]): Promise<void> {
    const sent = this.queue.then(() =>
      (this.socket as zmq.Dealer).send(frames)
    );
    this.queue = sent.catch(() => undefined);
    return sent;
  }

  async receiveLoop(handle: (frames: Buffer[]) => void): Promise<void> {
    try {
      for await (const frames of this.socket) {
        handle(frames as Buffer[]);
      }
    } catch {
      // Closing the socket ends a pending receive with an error: the loop is simply over.
    }
  }

  close(): void {
    if (!this.socket.closed) {
      this.socket.close();
    }
  }
}

export class ZmqKernel implements RunKernel {
  readonly pid: number;
  /** Resolves once the kernel process exited and its folder was removed (never rejects). */
  readonly exited: Promise<KernelExit>;
  /** The kernel_info_reply content, once ready. */
  kernelInfo: Record<string, unknown> | null = null;
  /** The ipywidgets models its code showed (the executed notebook's `metadata.widgets`). */
  readonly widgets = new WidgetState();

  private readonly session = randomUUID();
  /** A topic of our own, so the iopub_welcome we wait for is ours (see start()). */
  private readonly topic = `cellflow.${randomUUID()}`;
  private readonly signer: Signer;
  private readonly shell: Channel<zmq.Dealer>;
  private readonly control: Channel<zmq.Dealer>;
  private readonly iopub: Channel<zmq.Subscriber>;
  private readonly executions = new Map<string, Execution>();
  private readonly requests = new Map<string, Request>();
  private exitInfo: KernelExit | null = null;
  private welcomed = false;
  private onWelcome: (() => void) | null = null;
  private stderrTail = '';

  constructor(
    private readonly child: ChildProcess,
    readonly connection: ConnectionInfo,
    /** Our temp folder: the connection file and IPYTHONDIR; removed when the kernel exits. */
    readonly connectionDir: string
  ) {
    this.pid = child.pid ?? -1;
    this.signer = new Signer(connection.key);
    // Connect right after spawn with a short reconnect interval: libzmq's default 100 ms lost the
    // kernel's first iopub messages (late joiner).
    const iopub = new zmq.Subscriber({ reconnectInterval: 10, linger: 0 });
    iopub.subscribe('');
    iopub.subscribe(this.topic);
    iopub.connect(endpoint(connection, connection.iopub_port));
    const shell = new zmq.Dealer({ reconnectInterval: 10, linger: 0 });
    shell.connect(endpoint(connection, connection.shell_port));
    const control = new zmq.Dealer({ reconnectInterval: 10, linger: 0 });
    control.connect(endpoint(connection, connection.control_port));
    this.iopub = new Channel(iopub);
    this.shell = new Channel(shell);
    this.control = new Channel(control);

    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
    });
    const processExit = new Promise<KernelExit>(resolve => {
      child.once('exit', (code, signal) =>
        resolve(this.onExit({ code, signal }))
      );
      child.once('error', error => {
        // 'error' without 'exit' happens when the process could not be spawned.
        if (this.pid === -1) {
          resolve(this.onExit({ code: null, signal: null, error }));
        }
      });
    });
    // `exited` waits for the folder's removal too, so whoever awaits it (a test's afterEach, the
    // server's shutdown) does not end the process half-way through it.
    this.exited = processExit.then(async exit => {
      await rm(connectionDir, { recursive: true, force: true }).catch(
        () => undefined
      );
      return exit;
    });

    void this.iopub.receiveLoop(frames => this.onIopub(frames));
    void this.shell.receiveLoop(frames => this.onReply(frames));
    void this.control.receiveLoop(frames => this.onReply(frames));
  }

  /** True once the process exited. */
  get dead(): boolean {
    return this.exitInfo !== null;
  }

  /** The last few KB the kernel wrote to stderr, for error messages. */
  get stderr(): string {
    return this.stderrTail;
  }

  /**
   * Resolves once the kernel answered kernel_info_request AND our iopub subscription was welcomed,
   * so no iopub message of the first execute can be lost.
   */
  async waitReady(timeoutMs: number): Promise<void> {
    const welcome = new Promise<void>(resolve => {
      if (this.welcomed) {
        resolve();
      } else {
        this.onWelcome = resolve;
      }
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `The kernel (pid ${this.pid}) was not ready after ${timeoutMs} ms`
            )
          ),
        timeoutMs
      );
    });
    try {
      const reply = await Promise.race([
        Promise.all([
          this.request(this.shell, 'kernel_info_request', {}),
          welcome
        ]),
        timeout
      ]);
      this.kernelInfo = reply[0].content;
    } finally {
      clearTimeout(timer);
    }
  }

  execute(code: string, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    if (this.exitInfo) {
      return Promise.reject(this.diedError());
    }
    const header = makeHeader('execute_request', this.session);
    return new Promise<ExecuteResult>((resolve, reject) => {
      this.executions.set(header.msg_id, {
        idle: false,
        // ipykernel still publishes streams of a silent request; FlowKernel promises none.
        onOutput: options.silent ? undefined : options.onOutput,
        resolve,
        reject
      });
      const content = {
        code,
        silent: options.silent ?? false,
        store_history: options.storeHistory ?? !(options.silent ?? false),
        user_expressions: {},
        allow_stdin: false,
        // stop_on_error makes the kernel abort requests queued behind a failed one (and, with a
        // configured stop_on_error_timeout, those arriving just after): an immediate retry could come
        // back 'aborted'. The run loop sends one request at a time: nothing to protect.
        stop_on_error: false
      };
      this.shell.send(serialize(this.signer, header, content)).catch(error => {
        this.executions.delete(header.msg_id);
        reject(this.exitInfo ? this.diedError() : (error as Error));
      });
    });
  }

  /** Interrupts the running request with interrupt_request on control (it gets no reply on shell). */
  async interrupt(): Promise<void> {
    await this.request(this.control, 'interrupt_request', {});
  }

  /** Asks the kernel to exit; kills it if it has not after `timeoutMs`. */
  async shutdown(timeoutMs = 5000): Promise<KernelExit> {
    if (this.exitInfo) {
      return this.exitInfo;
    }
    this.request(this.control, 'shutdown_request', { restart: false }).catch(
      () => undefined
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>(resolve => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    const first = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    return first === 'late' ? this.kill() : first;
  }

  /** SIGKILL: for a kernel that does not answer. */
  async kill(): Promise<KernelExit> {
    if (!this.exitInfo) {
      this.child.kill('SIGKILL');
    }
    return this.exited;
  }

  private request(
    channel: Channel<zmq.Dealer>,
    msgType: string,
    content: Record<string, unknown>
  ): Promise<JupyterMessage> {
    if (this.exitInfo) {
      return Promise.reject(this.diedError());
    }
    const header = makeHeader(msgType, this.session);
    return new Promise((resolve, reject) => {
      this.requests.set(header.msg_id, { resolve, reject });
      channel.send(serialize(this.signer, header, content)).catch(error => {
        this.requests.delete(header.msg_id);
        reject(this.exitInfo ? this.diedError() : (error as Error));
      });
    });
  }

  private onReply(frames: Buffer[]): void {
    const parsed = deserialize(this.signer, frames);
    if (!parsed.ok) {
      return; // A message we cannot trust is dropped, as the protocol says.
    }
    const message = parsed.message;
    const parentId = message.parent_header.msg_id;
    if (!parentId) {
      return;
    }
    const execution = this.executions.get(parentId);
    if (execution && message.header.msg_type === 'execute_reply') {
      execution.reply = message.content;
      this.settle(parentId, execution);
      return;
    }
    const request = this.requests.get(parentId);
    if (request) {
      this.requests.delete(parentId);
      request.resolve(message);
    }
  }

  private onIopub(frames: Buffer[]): void {
    const parsed = deserialize(this.signer, frames);
    if (!parsed.ok) {
      return;
    }
    const message = parsed.message;
    const type = message.header.msg_type;
    const content = message.content;
    if (type === 'iopub_welcome') {
      if (content.subscription === this.topic && !this.welcomed) {
        this.welcomed = true;
        this.onWelcome?.();
      }
      return;
    }
    // Widget models change from any request (and from none), so they are kept kernel-wide.
    this.widgets.add(type, content);
    const parentId = message.parent_header.msg_id;
    const execution = parentId ? this.executions.get(parentId) : undefined;
    if (!execution || !parentId) {
      return;
    }
    if (type === 'status') {
      if (content.execution_state === 'idle') {
        execution.idle = true;
        this.settle(parentId, execution);
      }
      return;
    }
    const output = iopubToOutput(type, content);
    if (output) {
      execution.onOutput?.(output);
    }
  }

  /** A request is done once both its reply and its idle status arrived (they come in either order). */
  private settle(msgId: string, execution: Execution): void {
    if (!execution.reply || !execution.idle) {
      return;
    }
    this.executions.delete(msgId);
    const reply = execution.reply;
    const status =
      reply.status === 'ok' || reply.status === 'error'
        ? reply.status
        : 'aborted';
    const result: ExecuteResult = {
      status,
      executionCount:
        typeof reply.execution_count === 'number' ? reply.execution_count : null
    };
    if (status === 'error') {
      result.ename = String(reply.ename ?? 'Error');
      result.evalue = String(reply.evalue ?? '');
      result.traceback = Array.isArray(reply.traceback)
        ? reply.traceback.map(String)
        : [];
    }
    execution.resolve(result);
  }

  private onExit(exit: KernelExit): KernelExit {
    if (this.exitInfo) {
      return this.exitInfo; // 'error' and 'exit' may both fire
    }
    this.exitInfo = exit;
    // A dead kernel sends nothing: every pending request fails now.
    const error = this.diedError();
    for (const execution of this.executions.values()) {
      execution.reject(error);
    }
    this.executions.clear();
    for (const request of this.requests.values()) {
      request.reject(error);
    }
    this.requests.clear();
    this.shell.close();
    this.control.close();
    this.iopub.close();
    return exit;
  }

  private diedError(): KernelDiedError {
    const exit = this.exitInfo;
    const how = !exit
      ? 'is gone'
      : exit.error
        ? `could not start: ${exit.error.message}`
        : exit.signal
          ? `died (signal ${exit.signal})`
          : `died (exit code ${exit.code})`;
    const stderr = this.stderrTail.trim();
    return new KernelDiedError(
      `The kernel (pid ${this.pid}) ${how}` +
        (stderr ? `; its stderr ends with:\n${stderr}` : '')
    );
  }
}
