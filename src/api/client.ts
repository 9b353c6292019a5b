import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { ScheduleSpec } from '../flow/schedule-types.js';
import type {
  IFlow,
  IFlowRun,
  IFlowRunDetail,
  IFlowVersion,
  ILogLine,
  IMe,
  INewNotificationRule,
  INotificationDelivery,
  INotificationRule,
  INotificationTestResult,
  IOverlap,
  IRunPage,
  IRunsQuery,
  ISchedule,
  ISecret,
  OverlapPolicy
} from './types.js';

export type { IMe };

/**
 * The lab's client of the Cellflow server. Every call goes through the Jupyter server's
 * `/cellflow/...` handlers (jupyterlab_cellflow/handlers.py), which add the API key: the browser
 * never holds the key, and no cross-origin request is needed.
 */

export interface ISession {
  loggedIn: boolean;
  reachable?: boolean;
  url?: string;
  me?: IMe;
  error?: string;
  /** The lab's own local Cellflow server (no profile: the lab started it and holds its key). */
  local?: boolean;
  /** The lab has just begun starting its local server: ask again to wait for it. */
  starting?: boolean;
  /** Without a profile the lab uses a local server: logging out goes back to it. */
  localAvailable?: boolean;
}

/**
 * An error answer of the Cellflow server (or of the lab's proxy), with its status and message: a
 * JupyterLab ResponseError, so code that handles the lab's server errors handles these too. When the
 * lab cannot be reached at all its response is a network error (`Response.error()`, status 0).
 */
export class CellflowError extends ServerConnection.ResponseError {
  constructor(
    response: Response,
    message: string,
    readonly body: Record<string, unknown> = {}
  ) {
    super(response, message);
    this.name = 'CellflowError';
  }

  /** The HTTP status of the answer; 0 when there was none. */
  get status(): number {
    return this.response.status;
  }

  /** 401: no key, a wrong key or a revoked key. */
  get isUnauthorized(): boolean {
    return this.status === 401;
  }

  /** 502/0: the Cellflow server (or the lab) cannot be reached. */
  get isUnreachable(): boolean {
    return this.status === 502 || this.status === 0;
  }
}

export class CellflowClient {
  constructor(
    private readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  session(): Promise<ISession> {
    return this.request<ISession>('cellflow/session', { method: 'GET' });
  }

  login(url: string, key: string): Promise<ISession> {
    return this.request<ISession>('cellflow/session', {
      method: 'POST',
      body: JSON.stringify({ url, key })
    });
  }

  async logout(): Promise<void> {
    await this.request('cellflow/session', { method: 'DELETE' });
  }

  /** A call of the Cellflow API (`path` after `/api/`), e.g. `api('flows', {method: 'POST', body})`. */
  api<T>(path: string, init: RequestInit = {}): Promise<T> {
    return this.request<T>(`cellflow/api/${path}`, init);
  }

  /** The workspace's secrets: names and times, never values. */
  async listSecrets(): Promise<ISecret[]> {
    const answer = await this.api<{ secrets: ISecret[] }>('secrets', {
      method: 'GET'
    });
    return answer.secrets;
  }

  /**
   * Create or replace a secret of the workspace. The value is sent once, in this request's body; the
   * answer (201 new, 200 replaced) carries the name and times only.
   */
  setSecret(name: string, value: string): Promise<ISecret> {
    return this.api<ISecret>(`secrets/${encodeURIComponent(name)}`, {
      method: 'PUT',
      body: JSON.stringify({ value })
    });
  }

  /** Delete a secret (404 when it is not there); kernels started afterwards no longer get it. */
  async deleteSecret(name: string): Promise<void> {
    await this.api(`secrets/${encodeURIComponent(name)}`, {
      method: 'DELETE'
    });
  }

  /** The workspace's flows. */
  async listFlows(): Promise<IFlow[]> {
    const answer = await this.api<{ flows: IFlow[] }>('flows', {
      method: 'GET'
    });
    return answer.flows;
  }

  /** Deploy a notebook as a new version of the flow of that name (made on its first deploy). */
  deployFlow(
    name: string,
    notebook: unknown
  ): Promise<{ flow: IFlow; version: IFlowVersion }> {
    return this.api('flows', {
      method: 'POST',
      body: JSON.stringify({ name, notebook })
    });
  }

  /** A flow with its latest version. */
  getFlow(flowId: string): Promise<{ flow: IFlow; version: IFlowVersion }> {
    return this.api(`flows/${encodeURIComponent(flowId)}`, { method: 'GET' });
  }

  /** Start a run of a flow now, with these parameter values (the defaults for the rest); see runNow. */
  async startRun(
    flowId: string,
    parameters: Record<string, unknown>,
    options: { refreshCache?: boolean } = {}
  ): Promise<IFlowRun> {
    const body = options.refreshCache
      ? { parameters, refreshCache: true }
      : { parameters };
    const answer = await this.api<{ run: IFlowRun }>(
      `flows/${encodeURIComponent(flowId)}/runs`,
      { method: 'POST', body: JSON.stringify(body) }
    );
    return answer.run;
  }

  /** A flow's newest runs, newest first. */
  async listRuns(flowId: string, limit: number): Promise<IFlowRun[]> {
    const query = new URLSearchParams({ flowId, limit: String(limit) });
    const answer = await this.api<{ runs: IFlowRun[] }>(`runs?${query}`, {
      method: 'GET'
    });
    return answer.runs;
  }

  /** A page of the workspace's runs, newest made first, filtered; `nextCursor` asks for the next. */
  listRunsPage(query: IRunsQuery): Promise<IRunPage> {
    const params = new URLSearchParams();
    if (query.flowId) {
      params.set('flowId', query.flowId);
    }
    for (const state of query.states ?? []) {
      params.append('state', state);
    }
    for (const trigger of query.triggers ?? []) {
      params.append('trigger', trigger);
    }
    if (query.from) {
      params.set('from', query.from);
    }
    if (query.to) {
      params.set('to', query.to);
    }
    if (query.cursor) {
      params.set('cursor', query.cursor);
    }
    params.set('limit', String(query.limit ?? 50));
    return this.api<IRunPage>(`runs?${params}`, { method: 'GET' });
  }

  /** A run's log lines in order, after a line id (0: from the start), optionally one task's. */
  async getLogs(
    runId: string,
    options: { after?: number; task?: string; limit?: number } = {}
  ): Promise<ILogLine[]> {
    const params = new URLSearchParams({ after: String(options.after ?? 0) });
    if (options.task) {
      params.set('task', options.task);
    }
    if (options.limit) {
      params.set('limit', String(options.limit));
    }
    const answer = await this.api<{ lines: ILogLine[] }>(
      `runs/${encodeURIComponent(runId)}/logs?${params}`,
      { method: 'GET' }
    );
    return answer.lines;
  }

  /** Cancel a run that has not ended (a Scheduled or Pending one never starts). */
  async cancelRun(runId: string): Promise<IFlowRun> {
    const answer = await this.api<{ run: IFlowRun }>(
      `runs/${encodeURIComponent(runId)}/cancel`,
      { method: 'POST' }
    );
    return answer.run;
  }

  /** A new run of an ended one that reuses its completed tasks' results ("Retry from failed"). */
  async retryRun(runId: string): Promise<IFlowRun> {
    const answer = await this.api<{ run: IFlowRun }>(
      `runs/${encodeURIComponent(runId)}/retry`,
      { method: 'POST' }
    );
    return answer.run;
  }

  /** A run with its task runs and their attempts. */
  async getRun(runId: string): Promise<IFlowRunDetail> {
    const answer = await this.api<{ run: IFlowRunDetail }>(
      `runs/${encodeURIComponent(runId)}`,
      { method: 'GET' }
    );
    return answer.run;
  }

  /** A flow's schedules and its overlap policy. */
  listSchedules(
    flowId: string
  ): Promise<{ schedules: ISchedule[]; overlap: IOverlap }> {
    return this.api(`flows/${encodeURIComponent(flowId)}/schedules`, {
      method: 'GET'
    });
  }

  /** Add a schedule to a flow (the server plans its runs). */
  async createSchedule(flowId: string, spec: ScheduleSpec): Promise<ISchedule> {
    const answer = await this.api<{ schedule: ISchedule }>(
      `flows/${encodeURIComponent(flowId)}/schedules`,
      { method: 'POST', body: JSON.stringify(spec) }
    );
    return answer.schedule;
  }

  /** Pause or resume a schedule (pausing removes its planned runs). */
  async setSchedulePaused(id: string, paused: boolean): Promise<ISchedule> {
    const answer = await this.api<{ schedule: ISchedule }>(
      `schedules/${encodeURIComponent(id)}`,
      { method: 'PATCH', body: JSON.stringify({ paused }) }
    );
    return answer.schedule;
  }

  /** Delete a schedule and its planned runs. */
  async deleteSchedule(id: string): Promise<void> {
    await this.api(`schedules/${encodeURIComponent(id)}`, {
      method: 'DELETE'
    });
  }

  /** Set what a scheduled run does while the flow's runs are active. */
  setOverlap(flowId: string, overlap: OverlapPolicy): Promise<IOverlap> {
    return this.api<IOverlap>(`flows/${encodeURIComponent(flowId)}/overlap`, {
      method: 'PATCH',
      body: JSON.stringify({ overlap })
    });
  }

  /** The workspace's notification rules (each flow's and those for every flow), destinations masked. */
  async listNotificationRules(): Promise<INotificationRule[]> {
    const answer = await this.api<{ rules: INotificationRule[] }>(
      'notifications/rules',
      { method: 'GET' }
    );
    return answer.rules;
  }

  /** Add a rule; its destination is sent in this request's body only. */
  addNotificationRule(rule: INewNotificationRule): Promise<INotificationRule> {
    return this.api<INotificationRule>('notifications/rules', {
      method: 'POST',
      body: JSON.stringify(rule)
    });
  }

  /** Remove a rule (its unsent deliveries are dropped). */
  async deleteNotificationRule(id: string): Promise<void> {
    await this.api(`notifications/rules/${encodeURIComponent(id)}`, {
      method: 'DELETE'
    });
  }

  /** Send a test message to a rule's destination now. */
  testNotificationRule(id: string): Promise<INotificationTestResult> {
    return this.api<INotificationTestResult>(
      `notifications/rules/${encodeURIComponent(id)}/test`,
      { method: 'POST' }
    );
  }

  /** A flow's notifications, newest first, with their outcome. */
  async listNotificationDeliveries(
    flowId: string,
    limit: number
  ): Promise<INotificationDelivery[]> {
    const query = new URLSearchParams({ flowId, limit: String(limit) });
    const answer = await this.api<{ deliveries: INotificationDelivery[] }>(
      `notifications/deliveries?${query}`,
      { method: 'GET' }
    );
    return answer.deliveries;
  }

  /** Open the live event stream; the Response's body is read by the caller (see EventStream). */
  async openEvents(
    query: string,
    lastEventId: string | null,
    signal: AbortSignal
  ): Promise<Response> {
    const url =
      URLExt.join(this.settings.baseUrl, 'cellflow/api/events') +
      (query ? `?${query}` : '');
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (lastEventId !== null) {
      headers['Last-Event-ID'] = lastEventId;
    }
    const response = await ServerConnection.makeRequest(
      url,
      { headers, signal },
      this.settings
    );
    if (!response.ok) {
      throw await toError(response);
    }
    return response;
  }

  /** The URL of a download through the lab (the executed notebook of a run). */
  downloadUrl(path: string): string {
    return URLExt.join(this.settings.baseUrl, 'cellflow/api', path);
  }

  private async request<T>(path: string, init: RequestInit): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new CellflowError(
        Response.error(),
        `The lab cannot be reached: ${String(error)}`
      );
    }
    if (!response.ok) {
      throw await toError(response);
    }
    if (response.status === 204) {
      return undefined as T;
    }
    return (await response.json()) as T;
  }
}

async function toError(response: Response): Promise<CellflowError> {
  let body: Record<string, unknown> = {};
  try {
    body = await response.json();
  } catch {
    // not JSON: keep the status text
  }
  const message =
    typeof body.message === 'string'
      ? body.message
      : `${response.status} ${response.statusText}`;
  return new CellflowError(response, message, body);
}
