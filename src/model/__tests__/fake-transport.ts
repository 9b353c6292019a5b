/**
 * A fake of what the panel's client talks to: the lab's `/cellflow/session` handlers and its proxy of
 * the Cellflow API, in memory, behind `ServerConnection.ISettings.fetch`. The real CellflowClient runs
 * on top of it, so tests see the requests (method, path, body) the panel would send.
 */
import { ServerConnection } from '@jupyterlab/services';

import { CellflowClient } from '../../api/client.js';
import type {
  IFlowRunDetail,
  ILogLine,
  INotificationDelivery,
  INotificationRule,
  IOverlap,
  ISchedule,
  ISecret
} from '../../api/types.js';
import { checkSecretName } from '../secrets-model.js';

export const LAB_URL = 'http://lab.test/';

export interface IRecordedRequest {
  method: string;
  /** The path after the lab's base URL, with its query, e.g. `cellflow/api/secrets/API_TOKEN`. */
  path: string;
  body: string | null;
}

interface IAnswer {
  status: number;
  body?: unknown;
}

/** A workspace of the fake server, reached with its API key. */
interface IWorkspace {
  id: string;
  name: string;
  secrets: Map<string, ISecret & { value: string }>;
  /** Deployed flows by id: their schedules and overlap policy. */
  flows: Map<string, { schedules: ISchedule[]; overlap: IOverlap }>;
  /** Runs with their task runs, oldest first. */
  runs: IFlowRunDetail[];
  /** Log lines by run id, in id order. */
  logs: Map<string, ILogLine[]>;
  /** Notification rules (destinations masked, as the server keeps them for listing). */
  rules: INotificationRule[];
  /** Deliveries, oldest first. */
  deliveries: INotificationDelivery[];
}

export class FakeTransport {
  readonly requests: IRecordedRequest[] = [];
  /** The fake clock of the server's times. */
  now = Date.parse('2026-01-01T12:00:00Z');
  /** Set to hold the next answers on their way back until `release()`. */
  holding = false;

  constructor() {
    this.workspaces.set('cf_main', {
      id: 'w1',
      name: 'main',
      secrets: new Map(),
      flows: new Map(),
      runs: [],
      logs: new Map(),
      rules: [],
      deliveries: []
    });
    this.workspaces.set('cf_other', {
      id: 'w2',
      name: 'other',
      secrets: new Map(),
      flows: new Map(),
      runs: [],
      logs: new Map(),
      rules: [],
      deliveries: []
    });
  }

  /** A client whose every request goes to this fake. */
  client(): CellflowClient {
    return new CellflowClient(
      ServerConnection.makeSettings({
        baseUrl: LAB_URL,
        wsUrl: 'ws://lab.test/',
        fetch: (input, init) => this.fetch(input, init)
      })
    );
  }

  /** A workspace's stored secrets (values included: the server's side). */
  workspace(key: 'cf_main' | 'cf_other'): IWorkspace {
    return this.workspaces.get(key)!;
  }

  /** The key the lab's profile holds now (null: logged out). */
  loggedInKey: string | null = null;
  /** As the lab's local mode: with no login, the session is the local server's, with this key. */
  localKey: 'cf_main' | 'cf_other' | null = null;
  /** The next session answer says the local server is starting (as the lab's first one does). */
  localStarting = false;
  /** Revoke the logged-in key: the API answers 401 from now on. */
  revoked = false;

  /** Let the held requests answer, in the order they came. */
  release(): void {
    this.holding = false;
    for (const go of this.held.splice(0)) {
      go();
    }
  }

  requestsTo(prefix: string): IRecordedRequest[] {
    return this.requests.filter(r => r.path.startsWith(prefix));
  }

  private async fetch(
    input: RequestInfo,
    init?: RequestInit
  ): Promise<Response> {
    const request = new Request(input, init);
    const body = request.method === 'GET' ? null : await request.text();
    // Without the cache-busting timestamp ServerConnection adds to every URL.
    const path = request.url.slice(LAB_URL.length).replace(/[?&]\d+$/, '');
    this.requests.push({ method: request.method, path, body: body || null });
    const answer = this.answer(request.method, path, body);
    if (this.holding) {
      // Answered already, still on its way back.
      await new Promise<void>(resolve => this.held.push(resolve));
    }
    return new Response(
      answer.status === 204 || answer.body === undefined
        ? null
        : JSON.stringify(answer.body),
      {
        status: answer.status,
        headers: { 'Content-Type': 'application/json' }
      }
    );
  }

  private answer(method: string, path: string, body: string | null): IAnswer {
    if (path === 'cellflow/session') {
      return this.session(method, body);
    }
    const key = this.loggedInKey ?? this.localKey;
    const workspace = key ? this.workspaces.get(key) : undefined;
    if (!workspace) {
      return error(401, 'unauthorized', 'Log in to a Cellflow server first');
    }
    if (this.revoked) {
      return error(401, 'unauthorized', 'This API key was revoked');
    }
    if (path === 'cellflow/api/flows' && method === 'GET') {
      return {
        status: 200,
        body: {
          flows: [...workspace.flows.entries()].map(([id, flow]) => ({
            id,
            name: `flow ${id}`,
            paused: false,
            latestVersion: 1,
            ...flow.overlap,
            createdAt: '2026-01-01T00:00:00Z',
            updatedAt: '2026-01-01T00:00:00Z'
          }))
        }
      };
    }
    const runs = /^cellflow\/api\/runs\?(.*)$/.exec(path);
    if (runs && method === 'GET') {
      return this.listRuns(workspace, new URLSearchParams(runs[1]));
    }
    const run =
      /^cellflow\/api\/runs\/([^/?]+)(?:\/(logs|cancel|retry))?(?:\?(.*))?$/.exec(
        path
      );
    if (run) {
      return this.runRoute(workspace, method, run[1], run[2], run[3] ?? '');
    }
    if (path.startsWith('cellflow/api/events')) {
      // An event stream that ends at once: the model reconnects later; tests read runs directly.
      return { status: 200, body: '' };
    }
    if (path.startsWith('cellflow/api/notifications/')) {
      return this.notifications(workspace, method, path, body);
    }
    if (/^cellflow\/api\/(flows|schedules)\//.test(path)) {
      return this.schedules(workspace, method, path, body);
    }
    const match = /^cellflow\/api\/secrets(?:\/([^/?]+))?$/.exec(path);
    if (!match) {
      return error(404, 'not-found', `No route ${method} ${path}`);
    }
    const name = match[1] === undefined ? null : decodeURIComponent(match[1]);
    if (name === null) {
      return method === 'GET'
        ? {
            status: 200,
            body: {
              secrets: [...workspace.secrets.values()].map(publicPart)
            }
          }
        : error(404, 'not-found', `No route ${method} ${path}`);
    }
    const problem = checkSecretName(name);
    if (problem) {
      return error(400, 'bad-request', problem, 'name');
    }
    if (method === 'PUT') {
      const value = (JSON.parse(body ?? '{}') as { value?: unknown }).value;
      if (typeof value !== 'string' || value === '' || value.includes('\0')) {
        return error(
          400,
          'bad-request',
          'A secret value must be a non-empty string without NUL',
          'value'
        );
      }
      const at = new Date(this.now).toISOString();
      const before = workspace.secrets.get(name);
      workspace.secrets.set(name, {
        name,
        value,
        createdAt: before?.createdAt ?? at,
        updatedAt: at
      });
      return {
        status: before ? 200 : 201,
        body: publicPart(workspace.secrets.get(name)!)
      };
    }
    if (method === 'DELETE') {
      return workspace.secrets.delete(name)
        ? { status: 204 }
        : error(404, 'not-found', `Secret ${name} not found`);
    }
    return error(404, 'not-found', `No route ${method} ${path}`);
  }

  /**
   * GET /api/runs: the flow's runs newest made first, by state, trigger and time range (on when each
   * started, else was due, else was made), a page at a time (the cursor is the position after a page).
   */
  private listRuns(workspace: IWorkspace, query: URLSearchParams): IAnswer {
    const limit = Number(query.get('limit') ?? 50);
    const states = query.getAll('state');
    const triggers = query.getAll('trigger');
    const from = query.get('from');
    const to = query.get('to');
    const when = (r: IFlowRunDetail) =>
      Date.parse(r.startedAt ?? r.scheduledAt ?? r.createdAt);
    const matching = workspace.runs
      .filter(r => !query.has('flowId') || r.flowId === query.get('flowId'))
      .filter(r => states.length === 0 || states.includes(r.state))
      .filter(r => triggers.length === 0 || triggers.includes(r.trigger))
      .filter(r => from === null || when(r) >= Date.parse(from))
      .filter(r => to === null || when(r) < Date.parse(to))
      .reverse();
    const start = Number(query.get('cursor') ?? 0);
    const page = matching
      .slice(start, start + limit)
      .map(({ taskRuns: _, ...run }) => run);
    const next = start + limit < matching.length ? String(start + limit) : null;
    return { status: 200, body: { runs: page, nextCursor: next } };
  }

  /** GET /api/runs/:id, its logs (after, task, limit), POST cancel and retry. */
  private runRoute(
    workspace: IWorkspace,
    method: string,
    runId: string,
    action: string | undefined,
    queryText: string
  ): IAnswer {
    const found = workspace.runs.find(r => r.id === runId);
    if (!found) {
      return error(404, 'not-found', `Run ${runId} not found`);
    }
    const listed = ({ taskRuns: _, ...run }: IFlowRunDetail) => run;
    if (!action && method === 'GET') {
      return { status: 200, body: { run: found } };
    }
    if (action === 'logs' && method === 'GET') {
      const query = new URLSearchParams(queryText);
      const after = Number(query.get('after') ?? 0);
      const limit = Number(query.get('limit') ?? 1000);
      const lines = (workspace.logs.get(runId) ?? [])
        .filter(l => l.id > after)
        .filter(l => !query.has('task') || l.task === query.get('task'))
        .slice(0, limit);
      return { status: 200, body: { lines } };
    }
    if (action === 'cancel' && method === 'POST') {
      if (!['Scheduled', 'Late', 'Pending', 'Running'].includes(found.state)) {
        return error(409, 'conflict', `Run ${runId} has ended`);
      }
      found.state = 'Cancelled';
      found.endedAt = new Date(this.now).toISOString();
      return { status: 200, body: { run: listed(found) } };
    }
    if (action === 'retry' && method === 'POST') {
      if (!['Failed', 'Crashed', 'Cancelled'].includes(found.state)) {
        return error(409, 'conflict', `Run ${runId} cannot be retried`);
      }
      const retry: IFlowRunDetail = {
        ...found,
        id: `${runId}-retry`,
        state: 'Pending',
        trigger: 'retry',
        retryOf: runId,
        startedAt: null,
        endedAt: null,
        createdAt: new Date(this.now).toISOString(),
        taskRuns: []
      };
      workspace.runs.push(retry);
      return { status: 201, body: { run: listed(retry) } };
    }
    return error(
      404,
      'not-found',
      `No route ${method} runs/${runId}/${action}`
    );
  }

  /** A flow with no schedule yet, and the overlap policy it has. */
  addFlow(
    key: 'cf_main' | 'cf_other',
    flowId: string,
    overlap: IOverlap = { overlap: 'queue', maxConcurrent: null }
  ): void {
    this.workspace(key).flows.set(flowId, { schedules: [], overlap });
  }

  /** The schedules routes, as the server answers them (interval schedules only). */
  private schedules(
    workspace: IWorkspace,
    method: string,
    path: string,
    body: string | null
  ): IAnswer {
    const input = JSON.parse(body || '{}') as Record<string, unknown>;
    const ofFlow = /^cellflow\/api\/flows\/([^/]+)\/(schedules|overlap)$/.exec(
      path
    );
    if (ofFlow) {
      const flow = workspace.flows.get(decodeURIComponent(ofFlow[1]));
      if (!flow) {
        return error(404, 'not-found', `Flow ${ofFlow[1]} not found`);
      }
      if (ofFlow[2] === 'overlap' && method === 'PATCH') {
        if (!['queue', 'skip', 'parallel'].includes(input.overlap as string)) {
          return error(
            400,
            'bad-request',
            'overlap must be queue, skip or parallel',
            'overlap'
          );
        }
        flow.overlap = {
          ...flow.overlap,
          overlap: input.overlap as IOverlap['overlap']
        };
        return { status: 200, body: flow.overlap };
      }
      if (ofFlow[2] === 'schedules' && method === 'GET') {
        return {
          status: 200,
          body: { schedules: flow.schedules, overlap: flow.overlap }
        };
      }
      if (ofFlow[2] === 'schedules' && method === 'POST') {
        const every = input.every;
        if (typeof every !== 'number' || every < 1) {
          return error(
            400,
            'bad-request',
            'every must be at least 1 second',
            'every'
          );
        }
        const at = new Date(this.now).toISOString();
        const schedule: ISchedule = {
          id: `s${++this.scheduleCount}`,
          flowId: decodeURIComponent(ofFlow[1]),
          kind: 'interval',
          every,
          paused: false,
          parameters: {},
          missedPolicy: 'skip',
          description: `Every ${every} seconds`,
          nextRuns: [new Date(this.now + every * 1000).toISOString()],
          revision: 1,
          createdAt: at,
          updatedAt: at
        };
        flow.schedules.push(schedule);
        return { status: 201, body: { schedule } };
      }
      return error(404, 'not-found', `No route ${method} ${path}`);
    }
    const one = /^cellflow\/api\/schedules\/([^/]+)$/.exec(path);
    const id = one ? decodeURIComponent(one[1]) : '';
    const flow = [...workspace.flows.values()].find(f =>
      f.schedules.some(s => s.id === id)
    );
    if (!one || !flow) {
      return error(404, 'not-found', `Schedule ${id} not found`);
    }
    if (method === 'DELETE') {
      flow.schedules = flow.schedules.filter(s => s.id !== id);
      return { status: 204 };
    }
    if (method === 'PATCH') {
      const schedule = flow.schedules.find(s => s.id === id)!;
      schedule.paused = input.paused === true;
      schedule.nextRuns = schedule.paused
        ? []
        : [new Date(this.now + (schedule.every ?? 1) * 1000).toISOString()];
      return { status: 200, body: { schedule } };
    }
    return error(404, 'not-found', `No route ${method} ${path}`);
  }

  private scheduleCount = 0;

  /** Whether a test message to a rule's destination arrives (its error otherwise). */
  testOutcome: string | null = null;

  /** The notifications routes: rules added (masked), removed, tested; a flow's deliveries. */
  private notifications(
    workspace: IWorkspace,
    method: string,
    path: string,
    body: string | null
  ): IAnswer {
    const rest = path.slice('cellflow/api/notifications/'.length);
    if (rest === 'rules' && method === 'GET') {
      return { status: 200, body: { rules: workspace.rules } };
    }
    if (rest === 'rules' && method === 'POST') {
      const input = JSON.parse(body || '{}') as Record<string, unknown>;
      const target = String(input.url ?? input.email ?? '');
      if (input.kind !== 'email' && !/^https?:\/\//.test(target)) {
        return error(400, 'bad-request', 'url must be an http(s) URL', 'url');
      }
      const rule: INotificationRule = {
        id: `r${++this.ruleCount}`,
        flowId: (input.flowId as string | null) ?? null,
        events: input.events as INotificationRule['events'],
        kind: input.kind as INotificationRule['kind'],
        target: `${target.slice(0, 12)}…`,
        createdAt: new Date(this.now).toISOString()
      };
      workspace.rules.push(rule);
      return { status: 201, body: rule };
    }
    const one = /^rules\/([^/]+)(\/test)?$/.exec(rest);
    const rule = one && workspace.rules.find(r => r.id === one[1]);
    if (one && !rule) {
      return error(404, 'not-found', `Notification rule ${one[1]} not found`);
    }
    if (rule && one[2] && method === 'POST') {
      return {
        status: 200,
        body: {
          rule,
          delivered: this.testOutcome === null,
          error: this.testOutcome
        }
      };
    }
    if (rule && !one[2] && method === 'DELETE') {
      workspace.rules = workspace.rules.filter(r => r !== rule);
      return { status: 204 };
    }
    const deliveries = /^deliveries\?(.*)$/.exec(rest);
    if (deliveries && method === 'GET') {
      const query = new URLSearchParams(deliveries[1]);
      const list = workspace.deliveries
        .filter(d => d.flowId === query.get('flowId'))
        .reverse()
        .slice(0, Number(query.get('limit') ?? 50));
      return { status: 200, body: { deliveries: list } };
    }
    return error(404, 'not-found', `No route ${method} ${path}`);
  }

  private ruleCount = 0;

  private session(method: string, body: string | null): IAnswer {
    if (method === 'POST') {
      const { key } = JSON.parse(body ?? '{}') as { url: string; key: string };
      if (!this.workspaces.has(key)) {
        return error(401, 'unauthorized', 'The server refused this API key');
      }
      this.loggedInKey = key;
      this.revoked = false;
    } else if (method === 'DELETE') {
      this.loggedInKey = null;
      return { status: 204 };
    }
    if (method === 'GET' && this.localStarting && !this.loggedInKey) {
      this.localStarting = false;
      return {
        status: 200,
        body: {
          loggedIn: false,
          local: true,
          starting: true,
          localAvailable: true
        }
      };
    }
    const local = !this.loggedInKey && this.localKey !== null;
    const key = this.loggedInKey ?? this.localKey;
    const workspace = key ? this.workspaces.get(key)! : null;
    return {
      status: 200,
      body: workspace
        ? {
            loggedIn: true,
            reachable: true,
            ...(local ? { local: true } : {}),
            localAvailable: this.localKey !== null,
            url: local ? 'http://127.0.0.1:40001' : 'http://cellflow.test',
            me: {
              workspace: { id: workspace.id, name: workspace.name },
              key: { id: 'k1', name: 'test', prefix: 'cf_' }
            }
          }
        : { loggedIn: false, localAvailable: this.localKey !== null }
    };
  }

  private workspaces = new Map<string, IWorkspace>();
  private held: (() => void)[] = [];
}

function publicPart(secret: ISecret): ISecret {
  return {
    name: secret.name,
    createdAt: secret.createdAt,
    updatedAt: secret.updatedAt
  };
}

function error(
  status: number,
  code: string,
  message: string,
  field?: string
): IAnswer {
  return {
    status,
    body: field ? { error: code, message, field } : { error: code, message }
  };
}
