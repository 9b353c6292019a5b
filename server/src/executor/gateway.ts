/**
 * A Jupyter Kernel Gateway or Jupyter Enterprise Gateway (`cellflow server|worker --kernel-gateway URL`):
 * its kernelspecs and kernel starts over its REST API, its kernels over WebSocket, all through
 * `@jupyterlab/services`, the Jupyter project's own client.
 *
 * Decisions:
 * - The token (`--gateway-token`) goes in the `Authorization: token …` header, on the WebSocket too,
 *   never in a URL (`appendToken: false`, and a WebSocket class that sends the header).
 * - A kernel start sends `KERNEL_USERNAME` (Enterprise Gateway refuses a start without it, and names
 *   the kernel's pod or process after it): the workspace, so each workspace's kernels are told apart.
 *   Nothing else of the workspace goes in the request's `env`: gateways pass on only `KERNEL_*` and
 *   variables their operator allowed, and a request body may be logged. The workspace's variables and
 *   secrets are set inside the kernel after it started (gateway-kernels.ts).
 */
import { KernelSpecAPI, ServerConnection } from '@jupyterlab/services';
import type { IModel } from '@jupyterlab/services/lib/kernel/restapi.js';
import WebSocket from 'ws';

import { GatewayKernel } from './gateway-kernel.js';
import type { Kernelspec } from './kernelspecs.js';

export interface GatewayOptions {
  /** Its base URL, e.g. `http://gateway:8888/`. */
  url: string;
  token?: string;
  /** How long a kernel may take to start and answer (default 60 s: a gateway may start a pod). */
  startTimeoutMs?: number;
}

/** A gateway that did not answer as expected: the message names it and what it said. */
export class GatewayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GatewayError';
  }
}

export class KernelGateway {
  readonly url: string;
  private readonly settings: ServerConnection.ISettings;
  private readonly startTimeoutMs: number;

  constructor(options: GatewayOptions) {
    const base = new URL(options.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new GatewayError(
        `the kernel gateway URL must be http or https, got ${options.url}`
      );
    }
    base.search = '';
    base.hash = '';
    if (!base.pathname.endsWith('/')) {
      base.pathname += '/';
    }
    this.url = base.toString();
    const wsUrl = this.url.replace(/^http/, 'ws');
    const token = options.token ?? '';
    const headers = token ? { Authorization: `token ${token}` } : {};
    class GatewayWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers });
      }
    }
    this.settings = ServerConnection.makeSettings({
      baseUrl: this.url,
      wsUrl,
      token,
      appendToken: false,
      // Node's own fetch; the DOM types the client is declared with are not the server's.
      fetch: fetch as unknown as ServerConnection.ISettings['fetch'],
      Request: Request as unknown as ServerConnection.ISettings['Request'],
      Headers: Headers as unknown as ServerConnection.ISettings['Headers'],
      WebSocket:
        GatewayWebSocket as unknown as ServerConnection.ISettings['WebSocket'],
      init: { cache: 'no-store' } as RequestInit
    });
    this.startTimeoutMs = options.startTimeoutMs ?? 60_000;
  }

  /** The gateway's kernelspecs by name (GET /api/kernelspecs). */
  async kernelspecs(): Promise<Map<string, Kernelspec>> {
    let specs: Awaited<ReturnType<typeof KernelSpecAPI.getSpecs>>;
    try {
      specs = await KernelSpecAPI.getSpecs(this.settings);
    } catch (error) {
      throw this.failure('list its kernelspecs', error);
    }
    const byName = new Map<string, Kernelspec>();
    for (const [name, spec] of Object.entries(specs.kernelspecs)) {
      if (!spec) {
        continue;
      }
      byName.set(name.toLowerCase(), {
        name: name.toLowerCase(),
        argv: spec.argv ?? [],
        env: (spec.env as Record<string, string> | undefined) ?? {},
        language: spec.language ?? '',
        // Not a folder of this machine: the gateway's kernelspec, by its URL.
        dir: `${this.url}kernelspecs/${encodeURIComponent(name)}`
      });
    }
    return byName;
  }

  /** Starts a kernel (POST /api/kernels) and connects to it; resolves once it answered kernel_info. */
  async startKernel(
    name: string,
    env: Record<string, string>
  ): Promise<GatewayKernel> {
    let model: IModel;
    try {
      const response = await ServerConnection.makeRequest(
        `${this.url}api/kernels`,
        { method: 'POST', body: JSON.stringify({ name, env }) },
        this.settings
      );
      if (response.status !== 201 && response.status !== 200) {
        throw await ServerConnection.ResponseError.create(response);
      }
      model = (await response.json()) as IModel;
    } catch (error) {
      throw this.failure(`start a '${name}' kernel`, error);
    }
    const kernel = new GatewayKernel({
      model,
      settings: this.settings,
      gateway: this.url,
      deleteKernel: id => this.deleteKernel(id)
    });
    try {
      await kernel.waitReady(this.startTimeoutMs);
    } catch (error) {
      await kernel.kill();
      throw error;
    }
    return kernel;
  }

  /** DELETE /api/kernels/<id>; a kernel the gateway no longer has (404) is as good as deleted. */
  async deleteKernel(id: string): Promise<void> {
    const response = await ServerConnection.makeRequest(
      `${this.url}api/kernels/${encodeURIComponent(id)}`,
      { method: 'DELETE' },
      this.settings
    );
    if (response.status !== 204 && response.status !== 404) {
      throw await ServerConnection.ResponseError.create(response);
    }
  }

  private failure(what: string, error: unknown): GatewayError {
    const why =
      error instanceof ServerConnection.ResponseError
        ? `${error.response.status} ${gatewayReason(error)}`
        : error instanceof Error
          ? error.message
          : String(error);
    return new GatewayError(
      `the kernel gateway ${this.url} could not ${what}: ${why}`
    );
  }
}

/** The gateway's own words: jupyter_server answers errors as `{"message": …, "reason": …}`. */
function gatewayReason(error: ServerConnection.ResponseError): string {
  const message = error.message.trim();
  return message || error.response.statusText;
}
