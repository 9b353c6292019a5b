/**
 * A small typed client for the Cellflow HTTP API, used by the CLI's client commands. Every failure
 * becomes a CliError with one readable line; the API key is only ever put in the Authorization header,
 * never in a message, a URL or a log.
 */
import type { Command } from 'commander';

import { SseParser, type IStreamEvent } from '../../../src/api/sse.js';
import type {
  WireFlow,
  WireFlowRun,
  WireFlowRunDetail,
  WireFlowVersion,
  WireLogLine,
  WireMe,
  WireNotificationDelivery,
  WireNotificationRule,
  WireSchedule,
  WireSecret,
  WireWorker
} from '../../../src/api/wire-types.js';
import type { FlowProblem } from '../../../src/flow/spec.js';

// The API's answers, typed from the server's response schemas (src/api/wire-schemas.ts).
export type MeResponse = WireMe;
export type FlowInfo = WireFlow;
export type FlowVersionInfo = WireFlowVersion;
export type WorkerInfo = WireWorker;
export type RunInfo = WireFlowRun;
export type RunDetail = WireFlowRunDetail;
export type ScheduleInfo = WireSchedule;
export type LogLineInfo = WireLogLine;
/** A workspace secret as the API lists it (never its value). */
export type SecretInfo = WireSecret;
/** A notification rule, its destination masked. */
export type NotificationRuleInfo = WireNotificationRule;
export type NotificationDeliveryInfo = WireNotificationDelivery;

export interface NewNotificationRule {
  flowId: string | null;
  events: string[];
  kind: 'slack' | 'webhook' | 'email';
  url?: string;
  secret?: string;
  email?: string;
}

/** One Server-Sent Event as received (the parser is shared with the lab: src/api/sse.ts). */
export type StreamEvent = IStreamEvent;
export { SseParser };

/** An error meant for the user: the top-level handler prints `cellflow: <message>` and exits. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The server answered with an error status. */
export class ApiError extends CliError {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
    readonly body: Record<string, unknown>
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The compiler's problems of a refused notebook (400 invalid-flow), else empty. */
  get problems(): FlowProblem[] {
    return Array.isArray(this.body.problems)
      ? (this.body.problems as FlowProblem[])
      : [];
  }
}

export interface Connection {
  /** The server's base URL, without a trailing slash and without /api. */
  url: string;
  key: string;
}

export interface ListRunsOptions {
  flowId?: string;
  state?: string;
  idPrefix?: string;
  limit?: number;
  cursor?: string;
}

export interface EventStreamOptions {
  runId?: string;
  flowId?: string;
  /** Resume after this event id. */
  after?: string;
  signal?: AbortSignal;
}

type Fetch = typeof fetch;

/** `http://host:8787/` or `http://host:8787/api` → `http://host:8787`; anything else is refused. */
export function normaliseServerUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new CliError(
      `"${input}" is not a server URL; give one like http://127.0.0.1:8787`
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(
      `the server URL must start with http:// or https://, got "${input}"`
    );
  }
  if (url.username || url.password) {
    // Credentials in a URL end up in shell history and logs; the key goes in the profile instead.
    throw new CliError(
      'the server URL must not contain a user name or password'
    );
  }
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api$/, '');
  return `${url.origin}${path}`;
}

export class ApiClient {
  private readonly fetch: Fetch;

  constructor(
    readonly connection: Connection,
    fetchImpl: Fetch = globalThis.fetch
  ) {
    this.fetch = fetchImpl;
  }

  get url(): string {
    return this.connection.url;
  }

  me(): Promise<MeResponse> {
    return this.request('GET', '/api/me');
  }

  async listFlows(): Promise<FlowInfo[]> {
    const body = await this.request<{ flows: FlowInfo[] }>('GET', '/api/flows');
    return body.flows;
  }

  getFlow(
    flowId: string
  ): Promise<{ flow: FlowInfo; version: FlowVersionInfo }> {
    return this.request('GET', `/api/flows/${encodeURIComponent(flowId)}`);
  }

  deployFlow(input: {
    name: string;
    notebook: unknown;
    kernelName?: string;
  }): Promise<{ flow: FlowInfo; version: FlowVersionInfo }> {
    return this.request('POST', '/api/flows', input);
  }

  async listSchedules(flowId: string): Promise<ScheduleInfo[]> {
    const body = await this.request<{ schedules: ScheduleInfo[] }>(
      'GET',
      `/api/flows/${encodeURIComponent(flowId)}/schedules`
    );
    return body.schedules;
  }

  /** Changes the given fields of a schedule (`{ paused: true }` pauses it). */
  async updateSchedule(
    scheduleId: string,
    patch: Record<string, unknown>
  ): Promise<ScheduleInfo> {
    const body = await this.request<{ schedule: ScheduleInfo }>(
      'PATCH',
      `/api/schedules/${encodeURIComponent(scheduleId)}`,
      patch
    );
    return body.schedule;
  }

  /** Deletes a schedule and its runs that have not started. */
  async deleteSchedule(scheduleId: string): Promise<void> {
    await this.request(
      'DELETE',
      `/api/schedules/${encodeURIComponent(scheduleId)}`
    );
  }

  /** Adds a schedule (the server validates it again and names a bad field). */
  async createSchedule(
    flowId: string,
    input: Record<string, unknown>
  ): Promise<ScheduleInfo> {
    const body = await this.request<{ schedule: ScheduleInfo }>(
      'POST',
      `/api/flows/${encodeURIComponent(flowId)}/schedules`,
      input
    );
    return body.schedule;
  }

  /** A new run; `warnings` says what the server accepted with a warning (undeclared parameters). */
  async createRun(
    flowId: string,
    parameters: Record<string, unknown>,
    options: { refreshCache?: boolean } = {}
  ): Promise<RunInfo & { warnings?: string[] }> {
    const body = await this.request<{ run: RunInfo; warnings?: string[] }>(
      'POST',
      `/api/flows/${encodeURIComponent(flowId)}/runs`,
      options.refreshCache ? { parameters, refreshCache: true } : { parameters }
    );
    return body.warnings ? { ...body.run, warnings: body.warnings } : body.run;
  }

  /** The live workers and the pools each serves. */
  async listWorkers(): Promise<WorkerInfo[]> {
    const body = await this.request<{ workers: WorkerInfo[] }>(
      'GET',
      '/api/workers'
    );
    return body.workers;
  }

  listRuns(
    options: ListRunsOptions = {}
  ): Promise<{ runs: RunInfo[]; nextCursor: string | null }> {
    return this.request(
      'GET',
      '/api/runs' +
        query({
          flowId: options.flowId,
          state: options.state,
          idPrefix: options.idPrefix,
          limit:
            options.limit === undefined ? undefined : String(options.limit),
          cursor: options.cursor
        })
    );
  }

  async getRun(runId: string): Promise<RunDetail> {
    const body = await this.request<{ run: RunDetail }>(
      'GET',
      `/api/runs/${encodeURIComponent(runId)}`
    );
    return body.run;
  }

  async logs(
    runId: string,
    options: { task?: string; after?: number } = {}
  ): Promise<LogLineInfo[]> {
    const body = await this.request<{ lines: LogLineInfo[] }>(
      'GET',
      `/api/runs/${encodeURIComponent(runId)}/logs` +
        query({
          task: options.task,
          after: options.after === undefined ? undefined : String(options.after)
        })
    );
    return body.lines;
  }

  async listSecrets(): Promise<SecretInfo[]> {
    const body = await this.request<{ secrets: SecretInfo[] }>(
      'GET',
      '/api/secrets'
    );
    return body.secrets;
  }

  /** Sets the secret of the key's workspace; `created` is false when it replaced one. */
  async setSecret(
    name: string,
    value: string
  ): Promise<SecretInfo & { created: boolean }> {
    const path = `/api/secrets/${encodeURIComponent(name)}`;
    const response = await this.send(
      'PUT',
      path,
      { value },
      { accept: 'application/json' }
    );
    if (!response.ok) {
      throw await this.errorFrom('PUT', path, response);
    }
    const secret = (await response.json()) as SecretInfo;
    return { ...secret, created: response.status === 201 };
  }

  /** ApiError with status 404 when the workspace has no secret of that name. */
  async listNotificationRules(): Promise<NotificationRuleInfo[]> {
    const body = await this.request<{ rules: NotificationRuleInfo[] }>(
      'GET',
      '/api/notifications/rules'
    );
    return body.rules;
  }

  addNotificationRule(
    rule: NewNotificationRule
  ): Promise<NotificationRuleInfo> {
    return this.request('POST', '/api/notifications/rules', rule);
  }

  async removeNotificationRule(id: string): Promise<void> {
    await this.request<void>(
      'DELETE',
      `/api/notifications/rules/${encodeURIComponent(id)}`
    );
  }

  testNotificationRule(id: string): Promise<{
    rule: NotificationRuleInfo;
    delivered: boolean;
    error: string | null;
  }> {
    return this.request(
      'POST',
      `/api/notifications/rules/${encodeURIComponent(id)}/test`
    );
  }

  async listNotificationDeliveries(
    options: { flowRunId?: string; state?: string; limit?: number } = {}
  ): Promise<NotificationDeliveryInfo[]> {
    const body = await this.request<{
      deliveries: NotificationDeliveryInfo[];
    }>(
      'GET',
      `/api/notifications/deliveries${query({
        flowRunId: options.flowRunId,
        state: options.state,
        limit: options.limit === undefined ? undefined : String(options.limit)
      })}`
    );
    return body.deliveries;
  }

  async deleteSecret(name: string): Promise<void> {
    await this.request<void>(
      'DELETE',
      `/api/secrets/${encodeURIComponent(name)}`
    );
  }

  /**
   * Reads `GET /api/events` as Server-Sent Events (fetch, so the key goes in a header, which the
   * browser's EventSource cannot do) and calls onEvent for each one; resolves when the server ends the
   * stream or the signal aborts.
   */
  async streamEvents(
    options: EventStreamOptions,
    onEvent: (event: StreamEvent) => void | Promise<void>
  ): Promise<void> {
    const path =
      '/api/events' +
      query({
        runId: options.runId,
        flowId: options.flowId,
        after: options.after
      });
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.after !== undefined) {
      headers['last-event-id'] = options.after;
    }
    const response = await this.send(
      'GET',
      path,
      undefined,
      headers,
      options.signal
    );
    if (!response.ok) {
      throw await this.errorFrom('GET', path, response);
    }
    if (!response.body) {
      return;
    }
    const parser = new SseParser();
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        for (const event of parser.push(
          decoder.decode(chunk, { stream: true })
        )) {
          // The caller may stop reading from inside onEvent; later events of the chunk are not wanted.
          if (options.signal?.aborted) {
            return;
          }
          await onEvent(event);
        }
      }
    } catch (error) {
      if (options.signal?.aborted) {
        return;
      }
      throw new CliError(
        `the event stream from ${this.url} broke off: ${reason(error)}`
      );
    }
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body, {
      accept: 'application/json'
    });
    if (!response.ok) {
      throw await this.errorFrom(method, path, response);
    }
    if (response.status === 204) {
      return undefined as T;
    }
    const text = await response.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(
        `${method} ${this.url}${path} answered ${response.status} with something that is not JSON; is ${this.url} a Cellflow server?`
      );
    }
  }

  private async send(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    signal?: AbortSignal
  ): Promise<Response> {
    const init: RequestInit = {
      method,
      headers: {
        ...headers,
        authorization: `Bearer ${this.connection.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' })
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal
    };
    try {
      return await this.fetch(this.url + path, init);
    } catch (error) {
      throw new CliError(
        `cannot reach the Cellflow server at ${this.url}: ${reason(error)}`
      );
    }
  }

  private async errorFrom(
    method: string,
    path: string,
    response: Response
  ): Promise<ApiError> {
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(await response.text());
      if (parsed && typeof parsed === 'object') {
        body = parsed as Record<string, unknown>;
      }
    } catch {
      // Not JSON (a proxy's page, say): the status line below still says what happened.
    }
    const code = typeof body.error === 'string' ? body.error : undefined;
    const said =
      typeof body.message === 'string' && body.message ? body.message : '';
    const status = response.status;
    let message: string;
    if (status === 401) {
      message =
        `the server at ${this.url} refused the API key (401 unauthorized${said ? `: ${said}` : ''}); ` +
        'log in with "cellflow login URL" or set CELLFLOW_API_KEY';
    } else if (status === 404) {
      message = said || `not found: ${method} ${path}`;
    } else if (said) {
      message = said;
      if (typeof body.field === 'string' && !said.includes(body.field)) {
        message += ` (field ${body.field})`;
      }
    } else {
      message =
        `${method} ${this.url}${path} failed: ${status} ${response.statusText || code || ''}`.trimEnd();
    }
    return new ApiError(message, status, code, body);
  }
}

/**
 * Commander reports usage mistakes (a missing argument, an unknown option) with exit code 1; the
 * client commands use 2 for them, as for a refused notebook, so scripts can tell "you typed it wrong"
 * from "it failed". Help and --version still exit 0.
 */
export function usageErrorsExit2<C extends Command>(command: C): C {
  return command.exitOverride(error => {
    process.exit(error.exitCode === 0 ? 0 : 2);
  });
}

function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') {
      search.set(name, value);
    }
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Node's fetch hides the system error (ECONNREFUSED, ENOTFOUND, ...) in `cause`. */
function reason(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as NodeJS.ErrnoException).code;
      return code ? `${code} (${cause.message})` : cause.message;
    }
    return error.message;
  }
  return String(error);
}
