/**
 * The store suite, run against both back ends: embedded PGlite (one shared instance in a temp data dir)
 * and a throwaway PostgreSQL cluster. Each test makes its own workspace, so tests never see each
 * other's rows.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DrizzleStore } from '../src/store/drizzle-store.js';
import {
  NotFoundError,
  SchemaTooNewError,
  TransitionConflictError,
  TransitionRefusedError,
  openPgliteStore,
  openPostgresStore,
  openStore,
  type FlowRun,
  type ListRunsQuery,
  type Store
} from '../src/store/index.js';
import { loadMigrations } from '../src/store/migrate.js';
import { schema } from '../src/store/schema.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

interface Backend {
  name: 'pglite' | 'postgres';
  setup(): Promise<void>;
  open(migrations?: ReturnType<typeof loadMigrations>): Promise<Store>;
  /** Through the openStore factory, as the server does. */
  openDefault(): Promise<Store>;
  url?(): string;
  teardown(): Promise<void>;
}

function pgliteBackend(): Backend {
  let dir = '';
  return {
    name: 'pglite',
    setup: async () => {
      dir = mkdtempSync(join(tmpdir(), 'cellflow-pglite-'));
    },
    open: migrations => openPgliteStore(join(dir, 'data'), { migrations }),
    openDefault: () => openStore({ dataDir: join(dir, 'data') }, {}),
    teardown: async () => {
      if (dir) {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  };
}

function postgresBackend(): Backend {
  let server: TestPostgres | null = null;
  return {
    name: 'postgres',
    setup: async () => {
      server = await startPostgres();
    },
    open: migrations => openPostgresStore(server!.url, { migrations }),
    openDefault: () =>
      openStore({ dataDir: '/nonexistent' }, { DATABASE_URL: server!.url }),
    url: () => server!.url,
    teardown: async () => {
      await server?.stop();
    }
  };
}

const raw = (store: Store, text: string) =>
  (store as DrizzleStore).queryRows(text);
const quote = (value: string) => `'${value.replace(/'/g, "''")}'`;

describe.each([pgliteBackend(), postgresBackend()])(
  'Store on $name',
  backend => {
    let store: Store;

    beforeAll(async () => {
      await backend.setup();
      store = await backend.open();
    }, 120_000);

    // Registered first so it runs last, even if closing the store fails.
    afterAll(() => backend.teardown());
    afterAll(() => store?.close());

    const workspace = () => store.ensureWorkspace(`ws-${randomUUID()}`);

    async function deployed(workspaceId: string, name = 'etl') {
      return store.deployFlow({
        workspaceId,
        name,
        spec: { tasks: [{ name: 'extract' }, { name: 'load' }] },
        notebook: { cells: [], nbformat: 4, nbformat_minor: 5, metadata: {} },
        kernelName: 'python3'
      });
    }

    async function runInState(
      workspaceId: string,
      flowId: string,
      path: FlowRun['state'][]
    ): Promise<FlowRun> {
      let run = await store.createRun({
        workspaceId,
        flowId,
        trigger: 'manual',
        state: 'Scheduled'
      });
      for (const to of path) {
        run = await store.transitionRun(run.id, to);
      }
      return run;
    }

    async function eventTypes(workspaceId: string, flowRunId?: string) {
      const events = await store.listEvents({ workspaceId, flowRunId });
      return events.map(e =>
        e.type === 'flow_run.state' || e.type === 'task_run.state'
          ? `${e.type}:${e.payload.from}->${e.payload.to}`
          : e.type
      );
    }

    it('has every column the drizzle schema names, after migration', async () => {
      const columns = await raw(
        store,
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
      );
      const present = new Set(
        columns.map(c => `${c.table_name}.${c.column_name}`)
      );
      for (const table of Object.values(schema) as PgTable[]) {
        const config = getTableConfig(table);
        for (const column of config.columns) {
          expect(present, `${config.name}.${column.name}`).toContain(
            `${config.name}.${column.name}`
          );
        }
      }
      const versions = await raw(
        store,
        'SELECT version FROM cellflow_migrations ORDER BY version'
      );
      expect(versions.map(v => Number(v.version))).toEqual(
        loadMigrations().map(m => m.version)
      );
    });

    it('ensures workspaces by name', async () => {
      const name = `ws-${randomUUID()}`;
      const [a, b] = await Promise.all([
        store.ensureWorkspace(name),
        store.ensureWorkspace(name)
      ]);
      expect(a.id).toBe(b.id);
      expect(a.name).toBe(name);
      expect(await store.getWorkspace(a.id)).toEqual(a);
      expect((await workspace()).id).not.toBe(a.id);
      expect(await store.getWorkspace(randomUUID())).toBeNull();
    });

    it('creates, lists, finds and revokes API keys, never storing the secret', async () => {
      const ws = await workspace();
      const other = await workspace();
      const { key, secret } = await store.createApiKey(ws.id, 'laptop');
      expect(secret).toMatch(/^cf_[A-Za-z0-9_-]{43}$/);
      expect(key.prefix).toBe(secret.slice(0, 8));
      expect(key).not.toHaveProperty('hash');
      expect(key.revokedAt).toBeNull();

      const rows = await raw(
        store,
        `SELECT * FROM api_keys WHERE workspace_id = ${quote(ws.id)}`
      );
      expect(rows).toHaveLength(1);
      const stored = JSON.stringify(rows);
      expect(stored).not.toContain(secret);
      expect(stored).not.toContain(secret.slice(3));
      expect(rows[0].hash).toBe(
        createHash('sha256').update(secret).digest('hex')
      );

      expect(await store.listApiKeys(ws.id)).toEqual([key]);
      expect(await store.listApiKeys(other.id)).toEqual([]);

      const match = await store.findApiKeyByHash(rows[0].hash as string);
      expect(match?.workspace.id).toBe(ws.id);
      expect(match?.key.id).toBe(key.id);
      expect(await store.findApiKeyByHash('0'.repeat(64))).toBeNull();

      const at = new Date('2026-01-02T03:04:05.678Z');
      await store.touchApiKey(key.id, at);
      expect((await store.listApiKeys(ws.id))[0].lastUsedAt).toEqual(at);

      expect(await store.revokeApiKey(other.id, key.id)).toBe(false);
      expect(await store.revokeApiKey(ws.id, key.id)).toBe(true);
      expect(await store.revokeApiKey(ws.id, key.id)).toBe(false);
      expect(
        (await store.findApiKeyByHash(rows[0].hash as string))?.key.revokedAt
      ).toBeInstanceOf(Date);
      expect(await eventTypes(ws.id)).toEqual([
        'api_key.created',
        'api_key.revoked'
      ]);
      await expect(
        store.createApiKey(randomUUID(), 'x')
      ).rejects.toBeInstanceOf(NotFoundError);
    });

    it('deploys flows as immutable numbered versions, scoped to a workspace', async () => {
      const ws = await workspace();
      const other = await workspace();
      const first = await deployed(ws.id);
      expect(first.flow.latestVersion).toBe(1);
      expect(first.version.version).toBe(1);
      const second = await store.deployFlow({
        workspaceId: ws.id,
        name: 'etl',
        spec: { tasks: [{ name: 'v2' }] },
        notebook: { cells: [] },
        kernelName: 'python3'
      });
      expect(second.flow.id).toBe(first.flow.id);
      expect(second.version.version).toBe(2);
      expect((await store.getFlowVersion(ws.id, first.flow.id))?.spec).toEqual({
        tasks: [{ name: 'v2' }]
      });
      expect(
        (await store.getFlowVersion(ws.id, first.flow.id, 1))?.spec
      ).toEqual(first.version.spec);
      expect(await store.getFlowVersion(ws.id, first.flow.id, 3)).toBeNull();
      expect(await store.getFlowVersion(other.id, first.flow.id, 1)).toBeNull();

      // The same name in another workspace is another flow.
      const elsewhere = await deployed(other.id);
      expect(elsewhere.flow.id).not.toBe(first.flow.id);
      expect(elsewhere.version.version).toBe(1);

      // Concurrent deploys take distinct version numbers.
      const many = await Promise.all([1, 2, 3].map(() => deployed(ws.id)));
      expect(many.map(d => d.version.version).sort()).toEqual([3, 4, 5]);

      await deployed(ws.id, 'another');
      expect((await store.listFlows(ws.id)).map(f => f.name)).toEqual([
        'another',
        'etl'
      ]);
      expect((await store.getFlow(ws.id, first.flow.id))?.latestVersion).toBe(
        5
      );
      expect(await store.getFlow(other.id, first.flow.id)).toBeNull();
      expect((await store.getFlowByName(ws.id, 'etl'))?.id).toBe(first.flow.id);

      const paused = await store.setFlowPaused(ws.id, first.flow.id, true);
      expect(paused.paused).toBe(true);
      await expect(
        store.setFlowPaused(other.id, first.flow.id, false)
      ).rejects.toBeInstanceOf(NotFoundError);

      const run = await store.createRun({
        workspaceId: ws.id,
        flowId: first.flow.id,
        trigger: 'manual'
      });
      expect(await store.deleteFlow(other.id, first.flow.id)).toBe(false);
      expect(await store.deleteFlow(ws.id, first.flow.id)).toBe(true);
      expect(await store.getFlow(ws.id, first.flow.id)).toBeNull();
      expect(await store.getRunById(run.id)).toBeNull();
      expect(await store.deleteFlow(ws.id, first.flow.id)).toBe(false);
      // History survives the flow.
      const types = await eventTypes(ws.id);
      expect(types.filter(t => t === 'flow.deployed')).toHaveLength(6);
      expect(types.slice(-1)).toEqual(['flow.deleted']);
    });

    it('creates runs on the latest version by default and refuses unknown flows and versions', async () => {
      const ws = await workspace();
      const other = await workspace();
      const { flow } = await deployed(ws.id);
      await deployed(ws.id);
      const run = await store.createRun({
        workspaceId: ws.id,
        flowId: flow.id,
        trigger: 'manual',
        parameters: { rows: 10 }
      });
      expect(run).toMatchObject({
        state: 'Pending',
        flowVersion: 2,
        trigger: 'manual',
        parameters: { rows: 10 }
      });
      const pinned = await store.createRun({
        workspaceId: ws.id,
        flowId: flow.id,
        flowVersion: 1,
        trigger: 'retry'
      });
      expect(pinned.flowVersion).toBe(1);
      await expect(
        store.createRun({
          workspaceId: ws.id,
          flowId: flow.id,
          flowVersion: 3,
          trigger: 'manual'
        })
      ).rejects.toThrow(NotFoundError);
      await expect(
        store.createRun({
          workspaceId: other.id,
          flowId: flow.id,
          trigger: 'manual'
        })
      ).rejects.toThrow(NotFoundError);
      expect(await eventTypes(ws.id, run.id)).toEqual(['flow_run.created']);
    });

    it('creates at most one run per schedule tick', async () => {
      const ws = await workspace();
      const { flow } = await deployed(ws.id);
      const scheduleId = randomUUID();
      await raw(
        store,
        `INSERT INTO schedules (id, flow_id, kind, spec) VALUES (${quote(scheduleId)}, ${quote(flow.id)}, 'interval', '{"seconds": 60}')`
      );
      const tick = new Date('2026-05-01T10:00:00Z');
      const input = {
        workspaceId: ws.id,
        flowId: flow.id,
        trigger: 'scheduled' as const,
        scheduleId,
        scheduledAt: tick
      };
      const results = await Promise.all([
        store.createScheduledRunIfAbsent(input),
        store.createScheduledRunIfAbsent(input)
      ]);
      const created = results.filter(r => r !== null);
      expect(created).toHaveLength(1);
      expect(created[0]).toMatchObject({
        state: 'Scheduled',
        scheduleId,
        scheduledAt: tick
      });
      expect(await store.createScheduledRunIfAbsent(input)).toBeNull();
      const next = await store.createScheduledRunIfAbsent({
        ...input,
        scheduledAt: new Date('2026-05-01T10:01:00Z')
      });
      expect(next).not.toBeNull();
      expect(
        (await eventTypes(ws.id)).filter(t => t === 'flow_run.created')
      ).toHaveLength(2);
    });

    it('walks a flow run through legal states, with one event per change', async () => {
      const ws = await workspace();
      const { flow } = await deployed(ws.id);
      const scheduled = await store.createRun({
        workspaceId: ws.id,
        flowId: flow.id,
        trigger: 'manual',
        state: 'Scheduled'
      });
      const late = await store.transitionRun(scheduled.id, 'Late', {
        reason: 'not started in time'
      });
      expect(late).toMatchObject({
        state: 'Late',
        stateReason: 'not started in time'
      });
      await store.transitionRun(scheduled.id, 'Pending', { from: 'Late' });
      const running = await store.transitionRun(scheduled.id, 'Running');
      expect(running.startedAt).toBeInstanceOf(Date);
      expect(running.endedAt).toBeNull();
      const failed = await store.transitionRun(scheduled.id, 'Failed', {
        error: 'ValueError: bad row'
      });
      expect(failed).toMatchObject({
        state: 'Failed',
        error: 'ValueError: bad row'
      });
      expect(failed.endedAt).toBeInstanceOf(Date);
      expect(await eventTypes(ws.id, scheduled.id)).toEqual([
        'flow_run.created',
        'flow_run.state:Scheduled->Late',
        'flow_run.state:Late->Pending',
        'flow_run.state:Pending->Running',
        'flow_run.state:Running->Failed'
      ]);

      for (const [path, to] of [
        [[], 'Running'],
        [['Pending', 'Running'], 'Late'],
        [['Pending', 'Running', 'Completed'], 'Running'],
        [['Cancelled'], 'Pending'],
        [['Skipped'], 'Scheduled']
      ] as [FlowRun['state'][], FlowRun['state']][]) {
        const run = await runInState(ws.id, flow.id, path);
        const before = await store.listEvents({
          workspaceId: ws.id,
          flowRunId: run.id
        });
        const error = await store.transitionRun(run.id, to).catch(e => e);
        expect(error).toBeInstanceOf(TransitionRefusedError);
        expect(error).toMatchObject({
          kind: 'flow_run',
          id: run.id,
          from: run.state,
          to
        });
        expect(error.message).toContain(`${run.state} → ${to}`);
        expect((await store.getRunById(run.id))?.state).toBe(run.state);
        expect(
          await store.listEvents({ workspaceId: ws.id, flowRunId: run.id })
        ).toEqual(before);
      }

      const pending = await runInState(ws.id, flow.id, ['Pending']);
      await expect(
        store.transitionRun(pending.id, 'Cancelled', { from: 'Running' })
      ).rejects.toMatchObject({
        name: 'TransitionConflictError',
        expected: 'Running',
        actual: 'Pending'
      });
      await expect(
        store.transitionRun(randomUUID(), 'Running')
      ).rejects.toBeInstanceOf(NotFoundError);
      // An API caller names its workspace: another workspace's run is not found, and stays as it was.
      const stranger = await workspace();
      await expect(
        store.transitionRun(pending.id, 'Cancelled', {
          workspaceId: stranger.id
        })
      ).rejects.toBeInstanceOf(NotFoundError);
      expect((await store.getRunById(pending.id))?.state).toBe('Pending');
      expect(
        await store.transitionRun(pending.id, 'Cancelled', {
          workspaceId: ws.id
        })
      ).toMatchObject({ state: 'Cancelled' });
    });

    it('lets only one of two concurrent transitions win', async () => {
      const ws = await workspace();
      const { flow } = await deployed(ws.id);
      for (let i = 0; i < 5; i++) {
        const run = await store.createRun({
          workspaceId: ws.id,
          flowId: flow.id,
          trigger: 'manual'
        });
        const results = await Promise.allSettled([
          store.transitionRun(run.id, 'Running', { from: 'Pending' }),
          store.transitionRun(run.id, 'Running', { from: 'Pending' })
        ]);
        expect(results.filter(r => r.status === 'fulfilled')).toHaveLength(1);
        const loser = results.find(
          r => r.status === 'rejected'
        ) as PromiseRejectedResult;
        expect(loser.reason).toBeInstanceOf(TransitionConflictError);
        expect(await eventTypes(ws.id, run.id)).toEqual([
          'flow_run.created',
          'flow_run.state:Pending->Running'
        ]);
      }
    });

    it('finds runs by a prefix of their id, in the workspace only, and refuses LIKE wildcards', async () => {
      const ws = await workspace();
      const other = await workspace();
      const flow = (await deployed(ws.id, 'short-ids')).flow;
      const foreign = await store.createRun({
        workspaceId: other.id,
        flowId: (await deployed(other.id)).flow.id,
        trigger: 'manual'
      });
      // 17 runs: two of them share a first hex digit, whatever the random ids are.
      const runs: FlowRun[] = [];
      for (let i = 0; i < 17; i++) {
        runs.push(
          await store.createRun({
            workspaceId: ws.id,
            flowId: flow.id,
            trigger: 'manual'
          })
        );
      }
      const byPrefix = async (idPrefix: string) =>
        (await store.listRuns({ workspaceId: ws.id, idPrefix })).runs.map(
          r => r.id
        );
      for (const run of runs) {
        expect(await byPrefix(run.id.slice(0, 8))).toEqual([run.id]);
        expect(await byPrefix(run.id)).toEqual([run.id]);
      }
      const first = runs[0].id[0];
      const shared = runs.find(
        (run, i) => runs.findIndex(r => r.id[0] === run.id[0]) !== i
      )!;
      expect(
        (await byPrefix(shared.id[0])).length,
        'runs sharing a first digit'
      ).toBeGreaterThan(1);
      expect(await byPrefix(first)).toEqual(
        runs
          .filter(r => r.id.startsWith(first))
          .map(r => r.id)
          .reverse()
      );
      expect(await byPrefix(foreign.id.slice(0, 8))).not.toContain(foreign.id);
      await expect(
        store.listRuns({ workspaceId: ws.id, idPrefix: '%' })
      ).rejects.toThrow(/idPrefix/);
      await expect(
        store.listRuns({ workspaceId: ws.id, idPrefix: 'a_' })
      ).rejects.toThrow(/idPrefix/);
    });

    it('lists runs newest first with flow and state filters, offsets and cursors', async () => {
      const ws = await workspace();
      const other = await workspace();
      const a = (await deployed(ws.id, 'a')).flow;
      const b = (await deployed(ws.id, 'b')).flow;
      await store.createRun({
        workspaceId: other.id,
        flowId: (await deployed(other.id)).flow.id,
        trigger: 'manual'
      });
      const aRuns: FlowRun[] = [];
      for (let i = 0; i < 5; i++) {
        aRuns.push(
          await store.createRun({
            workspaceId: ws.id,
            flowId: a.id,
            trigger: 'manual'
          })
        );
      }
      const bRuns = [
        await store.createRun({
          workspaceId: ws.id,
          flowId: b.id,
          trigger: 'manual'
        }),
        await store.createRun({
          workspaceId: ws.id,
          flowId: b.id,
          trigger: 'manual'
        })
      ];
      await store.transitionRun(aRuns[1].id, 'Cancelled');
      await store.transitionRun(bRuns[0].id, 'Cancelled');

      const ids = (runs: FlowRun[]) => runs.map(r => r.id);
      const newestFirst = (runs: FlowRun[]) => ids([...runs].reverse());
      const all = await store.listRuns({ workspaceId: ws.id });
      expect(ids(all.runs)).toEqual(newestFirst([...aRuns, ...bRuns]));
      expect(all.nextCursor).toBeNull();
      expect(
        ids((await store.listRuns({ workspaceId: ws.id, flowId: a.id })).runs)
      ).toEqual(newestFirst(aRuns));
      expect(
        ids(
          (await store.listRuns({ workspaceId: ws.id, state: 'Cancelled' }))
            .runs
        )
      ).toEqual([bRuns[0].id, aRuns[1].id]);
      expect(
        ids(
          (
            await store.listRuns({
              workspaceId: ws.id,
              flowId: a.id,
              state: ['Cancelled', 'Running']
            })
          ).runs
        )
      ).toEqual([aRuns[1].id]);
      expect(
        (await store.listRuns({ workspaceId: ws.id, state: [] })).runs
      ).toEqual([]);
      expect(
        (
          await store.listRuns({
            workspaceId: ws.id,
            flowId: (await deployed(other.id, 'x')).flow.id
          })
        ).runs
      ).toEqual([]);

      const pages: string[][] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listRuns({
          workspaceId: ws.id,
          limit: 3,
          cursor
        });
        pages.push(ids(page.runs));
        cursor = page.nextCursor ?? undefined;
        // A run created meanwhile is newer than the cursor, so it never shifts later pages.
        if (pages.length === 1) {
          await store.createRun({
            workspaceId: ws.id,
            flowId: a.id,
            trigger: 'manual'
          });
        }
      } while (cursor);
      expect(pages.map(p => p.length)).toEqual([3, 3, 1]);
      expect(pages.flat()).toEqual(newestFirst([...aRuns, ...bRuns]));

      const offsetPage = await store.listRuns({
        workspaceId: ws.id,
        flowId: a.id,
        limit: 2,
        offset: 2
      });
      expect(ids(offsetPage.runs)).toEqual(newestFirst(aRuns).slice(1, 3));
      await expect(
        store.listRuns({ workspaceId: ws.id, cursor: 'abc' })
      ).rejects.toThrow(/Invalid runs cursor/);
    });

    it('lists runs by trigger and by a time range on when each ran or was due', async () => {
      const ws = await workspace();
      const { flow } = await deployed(ws.id);
      const at = (iso: string) => new Date(iso);
      const manual = await store.createRun({
        workspaceId: ws.id,
        flowId: flow.id,
        trigger: 'manual'
      });
      const early = await store.createRun({
        workspaceId: ws.id,
        flowId: flow.id,
        trigger: 'scheduled',
        state: 'Scheduled',
        scheduledAt: at('2020-01-01T10:00:00Z')
      });
      const late = await store.createRun({
        workspaceId: ws.id,
        flowId: flow.id,
        trigger: 'scheduled',
        state: 'Scheduled',
        scheduledAt: at('2020-01-02T10:00:00Z')
      });
      const ids = async (query: Partial<ListRunsQuery>) =>
        (await store.listRuns({ workspaceId: ws.id, ...query })).runs.map(
          r => r.id
        );
      expect(await ids({ trigger: 'manual' })).toEqual([manual.id]);
      expect(await ids({ trigger: ['scheduled', 'retry'] })).toEqual([
        late.id,
        early.id
      ]);
      expect(await ids({ trigger: [] })).toEqual([]);
      // `from` is inclusive, `to` exclusive; a run never started or due counts from its creation.
      expect(
        await ids({
          from: at('2020-01-01T10:00:00Z'),
          to: at('2020-01-02T10:00:00Z')
        })
      ).toEqual([early.id]);
      expect(await ids({ from: at('2020-01-02T00:00:00Z') })).toEqual([
        late.id,
        manual.id
      ]);
      expect(
        await ids({ to: at('2021-01-01T00:00:00Z'), trigger: 'scheduled' })
      ).toEqual([late.id, early.id]);
    });

    it('records task runs, attempts, retries, outputs and refuses illegal task transitions', async () => {
      const ws = await workspace();
      const other = await workspace();
      const { flow } = await deployed(ws.id);
      const run = await runInState(ws.id, flow.id, ['Pending', 'Running']);
      const tasks = await store.createTaskRuns(run.id, [
        'extract',
        'transform',
        'load'
      ]);
      expect(tasks.map(t => [t.taskName, t.state, t.attempts])).toEqual([
        ['extract', 'Pending', 0],
        ['transform', 'Pending', 0],
        ['load', 'Pending', 0]
      ]);
      const [extract, transform, load] = tasks;

      const first = await store.transitionTaskRun(extract.id, 'Running');
      expect(first.taskRun).toMatchObject({ state: 'Running', attempts: 1 });
      expect(first.attempt).toMatchObject({ attempt: 1, state: 'Running' });
      const waiting = await store.transitionTaskRun(
        extract.id,
        'AwaitingRetry',
        {
          attemptError: {
            name: 'ConnectionError',
            value: 'refused',
            traceback: ['line 1', 'line 2']
          }
        }
      );
      expect(waiting.taskRun).toMatchObject({
        state: 'AwaitingRetry',
        error: 'ConnectionError: refused'
      });
      expect(waiting.attempt).toMatchObject({
        attempt: 1,
        state: 'Failed',
        errorName: 'ConnectionError',
        traceback: ['line 1', 'line 2']
      });
      const retry = await store.transitionTaskRun(extract.id, 'Retrying', {
        from: 'AwaitingRetry'
      });
      expect(retry.attempt).toMatchObject({ attempt: 2, state: 'Running' });
      const outputs = [{ output_type: 'stream', name: 'stdout', text: 'ok\n' }];
      await store.saveAttemptOutputs(retry.attempt!.id, outputs, true);
      const done = await store.transitionTaskRun(extract.id, 'Completed');
      expect(done.taskRun).toMatchObject({
        state: 'Completed',
        attempts: 2,
        error: null
      });
      expect(done.taskRun.endedAt).toBeInstanceOf(Date);
      expect(done.attempt).toMatchObject({
        attempt: 2,
        state: 'Completed',
        outputs,
        outputsTruncated: true
      });

      await store.transitionTaskRun(transform.id, 'Running');
      await store.transitionTaskRun(transform.id, 'Failed', {
        attemptError: { name: 'KeyError', value: "'id'" }
      });
      await store.transitionTaskRun(load.id, 'Cancelled', {
        reason: 'upstream failed'
      });

      for (const [id, to] of [
        [extract.id, 'Running'],
        [transform.id, 'Retrying'],
        [load.id, 'Completed']
      ] as const) {
        const before = await store.listEvents({
          workspaceId: ws.id,
          flowRunId: run.id
        });
        const error = await store.transitionTaskRun(id, to).catch(e => e);
        expect(error).toBeInstanceOf(TransitionRefusedError);
        expect(error).toMatchObject({ kind: 'task_run', id, to });
        expect(
          await store.listEvents({ workspaceId: ws.id, flowRunId: run.id })
        ).toEqual(before);
      }
      const pendingTask = (await store.createTaskRuns(run.id, ['extra']))[0];
      await expect(
        store.transitionTaskRun(pendingTask.id, 'AwaitingRetry')
      ).rejects.toThrow(/Pending → AwaitingRetry/);
      await expect(
        store.transitionTaskRun(pendingTask.id, 'Running', { from: 'Retrying' })
      ).rejects.toBeInstanceOf(TransitionConflictError);
      await expect(
        store.transitionTaskRun(pendingTask.id, 'Running', {
          workspaceId: other.id
        })
      ).rejects.toBeInstanceOf(NotFoundError);

      const detail = await store.getRun(ws.id, run.id);
      expect(
        detail?.taskRuns.map(t => [
          t.taskName,
          t.state,
          t.attemptList.map(a => a.state)
        ])
      ).toEqual([
        ['extract', 'Completed', ['Failed', 'Completed']],
        ['transform', 'Failed', ['Failed']],
        ['load', 'Cancelled', []],
        ['extra', 'Pending', []]
      ]);
      expect(detail?.taskRuns[0].attemptList[1].outputs).toEqual(outputs);
      expect(await store.getRun(other.id, run.id)).toBeNull();
      expect(
        (await eventTypes(ws.id, run.id)).filter(t =>
          t.startsWith('task_run.state')
        )
      ).toEqual([
        'task_run.state:Pending->Running',
        'task_run.state:Running->AwaitingRetry',
        'task_run.state:AwaitingRetry->Retrying',
        'task_run.state:Retrying->Completed',
        'task_run.state:Pending->Running',
        'task_run.state:Running->Failed',
        'task_run.state:Pending->Cancelled'
      ]);
      await expect(
        store.saveAttemptOutputs(randomUUID(), [], false)
      ).rejects.toBeInstanceOf(NotFoundError);
      await expect(
        store.createTaskRuns(randomUUID(), ['x'])
      ).rejects.toBeInstanceOf(NotFoundError);
    });

    it('writes a batch of task transitions in order in one transaction, all or none', async () => {
      const ws = await workspace();
      const { flow } = await deployed(ws.id);
      const run = await runInState(ws.id, flow.id, ['Pending', 'Running']);
      const [a, b] = await store.createTaskRuns(run.id, ['a', 'b']);
      const results = await store.transitionTaskRuns([
        { taskRunId: a.id, to: 'Running' },
        { taskRunId: a.id, to: 'Completed' },
        { taskRunId: b.id, to: 'Running', options: { reason: 'second' } }
      ]);
      expect(results.map(r => [r.taskRun.taskName, r.taskRun.state])).toEqual([
        ['a', 'Running'],
        ['a', 'Completed'],
        ['b', 'Running']
      ]);
      // The attempt begun by the first step is the one the second ended.
      expect(results[1].attempt?.id).toBe(results[0].attempt?.id);
      expect(results[1].attempt?.state).toBe('Completed');
      const events = await store.listEvents({
        workspaceId: ws.id,
        flowRunId: run.id
      });
      expect(
        events
          .filter(e => e.type === 'task_run.state')
          .map(e => [e.payload.taskName, e.payload.to])
      ).toEqual([
        ['a', 'Running'],
        ['a', 'Completed'],
        ['b', 'Running']
      ]);

      // A refused step undoes the steps before it in the batch.
      await expect(
        store.transitionTaskRuns([
          { taskRunId: b.id, to: 'Completed' },
          { taskRunId: a.id, to: 'Running' }
        ])
      ).rejects.toBeInstanceOf(TransitionRefusedError);
      const after = await store.getRun(ws.id, run.id);
      expect(after?.taskRuns.map(t => [t.taskName, t.state])).toEqual([
        ['a', 'Completed'],
        ['b', 'Running']
      ]);
      expect(
        await store.listEvents({ workspaceId: ws.id, flowRunId: run.id })
      ).toHaveLength(events.length);
    });

    it("records a task's and its attempts' times as given (the run loop's), not the write's", async () => {
      const ws = await workspace();
      const { flow } = await deployed(ws.id);
      const run = await runInState(ws.id, flow.id, ['Pending', 'Running']);
      const [task] = await store.createTaskRuns(run.id, ['extract']);
      const t0 = new Date('2026-03-01T10:00:00.100Z');
      const t1 = new Date('2026-03-01T10:00:00.350Z');
      const t2 = new Date('2026-03-01T10:00:01.400Z');
      const t3 = new Date('2026-03-01T10:00:01.420Z');
      await store.transitionTaskRun(task.id, 'Running', { at: t0 });
      await store.transitionTaskRun(task.id, 'AwaitingRetry', {
        at: t1,
        attemptError: { name: 'ValueError', value: 'x', traceback: [] }
      });
      await store.transitionTaskRun(task.id, 'Retrying', { at: t2 });
      const done = await store.transitionTaskRun(task.id, 'Completed', {
        at: t3
      });
      expect(done.taskRun.startedAt).toEqual(t0);
      expect(done.taskRun.endedAt).toEqual(t3);
      const detail = await store.getRun(ws.id, run.id);
      expect(
        detail!.taskRuns[0].attemptList.map(a => [a.startedAt, a.endedAt])
      ).toEqual([
        [t0, t1],
        [t2, t3]
      ]);
    });

    it('appends and lists log lines by run, task and position', async () => {
      const ws = await workspace();
      const other = await workspace();
      const { flow } = await deployed(ws.id);
      const run = await runInState(ws.id, flow.id, ['Pending', 'Running']);
      expect(await store.appendLogLines([])).toEqual([]);
      const lines = await store.appendLogLines([
        {
          flowRunId: run.id,
          taskName: 'extract',
          attempt: 1,
          stream: 'stdout',
          text: 'fetched 10 rows'
        },
        {
          flowRunId: run.id,
          taskName: 'load',
          attempt: 1,
          stream: 'stderr',
          text: 'warning'
        },
        { flowRunId: run.id, stream: 'system', text: 'kernel started' }
      ]);
      expect(lines.map(l => l.text)).toEqual([
        'fetched 10 rows',
        'warning',
        'kernel started'
      ]);
      expect(
        (await store.listLogLines(ws.id, run.id)).map(l => l.text)
      ).toEqual(['fetched 10 rows', 'warning', 'kernel started']);
      expect(
        (await store.listLogLines(ws.id, run.id, { taskName: 'load' })).map(
          l => l.text
        )
      ).toEqual(['warning']);
      expect(
        (await store.listLogLines(ws.id, run.id, { afterId: lines[0].id })).map(
          l => l.text
        )
      ).toEqual(['warning', 'kernel started']);
      expect(
        (await store.listLogLines(ws.id, run.id, { limit: 1 })).map(l => l.text)
      ).toEqual(['fetched 10 rows']);
      await expect(store.listLogLines(other.id, run.id)).rejects.toBeInstanceOf(
        NotFoundError
      );
    });

    it('prunes ended runs by age or beyond the newest N of their flow, with all that hangs off them, never a run not ended', async () => {
      const ws = await workspace();
      const other = await workspace();
      const { flow } = await deployed(ws.id);
      const { flow: otherFlow } = await deployed(other.id);
      const r1 = await runInState(ws.id, flow.id, ['Pending', 'Running']);
      const [task] = await store.createTaskRuns(r1.id, ['extract']);
      const { attempt } = await store.transitionTaskRun(task.id, 'Running');
      await store.saveAttemptOutputs(
        attempt!.id,
        [{ output_type: 'stream', name: 'stdout', text: 'x' }],
        false
      );
      await store.appendLogLines([
        { flowRunId: r1.id, stream: 'stdout', text: 'line' }
      ]);
      await store.saveExecutedNotebook(r1.id, { cells: [] });
      await store.transitionRun(r1.id, 'Completed');
      const r2 = await runInState(ws.id, flow.id, [
        'Pending',
        'Running',
        'Failed'
      ]);
      const r3 = await runInState(ws.id, flow.id, ['Pending', 'Running']);
      const r4 = await runInState(ws.id, flow.id, [
        'Pending',
        'Running',
        'Completed'
      ]);
      const r5 = await runInState(ws.id, flow.id, []);
      const theirs = await runInState(other.id, otherFlow.id, ['Cancelled']);

      expect(await store.pruneRuns({ workspaceId: ws.id })).toEqual([]);
      // The newest two are r5 and r4; beyond them r3 is still Running, so only r2 and r1 go.
      expect(
        (await store.pruneRuns({ workspaceId: ws.id, keepPerFlow: 2 })).sort()
      ).toEqual([r1.id, r2.id].sort());
      expect(await store.getRun(ws.id, r1.id)).toBeNull();
      expect(await store.getRun(ws.id, r2.id)).toBeNull();
      expect(await store.getExecutedNotebook(ws.id, r1.id)).toBeNull();
      await expect(store.listLogLines(ws.id, r1.id)).rejects.toBeInstanceOf(
        NotFoundError
      );
      expect(
        await store.listEvents({ workspaceId: ws.id, flowRunId: r1.id })
      ).toEqual([]);
      expect(
        await raw(
          store,
          `SELECT count(*)::int AS n FROM task_attempts WHERE task_run_id = ${quote(task.id)}`
        )
      ).toEqual([{ n: 0 }]);

      // By age: whatever ended before now goes; the Running and Scheduled runs stay, the other
      // workspace's run too.
      expect(
        await store.pruneRuns({
          workspaceId: ws.id,
          endedBefore: new Date(Date.now() + 60_000)
        })
      ).toEqual([r4.id]);
      const left = await store.listRuns({ workspaceId: ws.id });
      expect(left.runs.map(r => r.id).sort()).toEqual([r3.id, r5.id].sort());
      expect(await store.getRun(other.id, theirs.id)).not.toBeNull();

      // At most `batch` runs per call.
      const more = [];
      for (let i = 0; i < 3; i++) {
        more.push(await runInState(other.id, otherFlow.id, ['Cancelled']));
      }
      const first = await store.pruneRuns(
        { workspaceId: other.id, keepPerFlow: 0 },
        2
      );
      expect(first).toHaveLength(2);
      const rest = await store.pruneRuns(
        { workspaceId: other.id, keepPerFlow: 0 },
        2
      );
      expect([...first, ...rest].sort()).toEqual(
        [theirs.id, ...more.map(r => r.id)].sort()
      );
    });

    it('saves and replaces the executed notebook', async () => {
      const ws = await workspace();
      const other = await workspace();
      const { flow } = await deployed(ws.id);
      const run = await runInState(ws.id, flow.id, ['Pending', 'Running']);
      expect(await store.getExecutedNotebook(ws.id, run.id)).toBeNull();
      await store.saveExecutedNotebook(run.id, {
        cells: [{ cell_type: 'code', source: '1' }]
      });
      await store.saveExecutedNotebook(run.id, {
        cells: [{ cell_type: 'code', source: '2' }]
      });
      expect(await store.getExecutedNotebook(ws.id, run.id)).toEqual({
        cells: [{ cell_type: 'code', source: '2' }]
      });
      expect(await store.getExecutedNotebook(other.id, run.id)).toBeNull();
    });

    it("claims only the runs of its pools, and keeps a flow's pool with its settings", async () => {
      const ws = await workspace();
      const { flow: cpu } = await deployed(ws.id, 'cpu');
      const { flow: gpu } = await deployed(ws.id, 'gpu');
      expect(cpu.pool).toBe('default');
      expect(
        (await store.setFlowRetries(ws.id, gpu.id, { pool: 'gpu' })).pool
      ).toBe('gpu');
      await expect(
        store.setFlowRetries(ws.id, gpu.id, { pool: 'no spaces' })
      ).rejects.toThrow(/pool must be letters/);
      const gpuRun = await store.createRun({
        workspaceId: ws.id,
        flowId: gpu.id,
        trigger: 'manual'
      });
      const cpuRun = await store.createRun({
        workspaceId: ws.id,
        flowId: cpu.id,
        trigger: 'manual'
      });
      const claim = (pools: string[]) =>
        store.claimNextPendingRun({
          owner: 'w',
          leaseMs: 60_000,
          workspaceId: ws.id,
          pools
        });
      expect(await claim(['other'])).toBeNull();
      expect((await claim(['default']))!.id).toBe(cpuRun.id);
      expect(await claim(['default'])).toBeNull();
      expect((await claim(['default', 'gpu']))!.id).toBe(gpuRun.id);
    });

    it('lists the workers whose heartbeat is recent, forgets the quiet ones, and says who drains', async () => {
      const id = `worker-${randomUUID()}`;
      const quiet = `worker-${randomUUID()}`;
      await store.registerWorker({
        id,
        name: 'w1',
        pools: ['gpu', 'default'],
        host: 'h'
      });
      await store.registerWorker({
        id: quiet,
        name: 'w2',
        pools: ['default'],
        host: 'h'
      });
      await expect(
        store.registerWorker({ id: 'x', name: 'x', pools: [], host: 'h' })
      ).rejects.toThrow(/at least one pool/);
      const mine = (workers: { id: string }[]) =>
        workers.filter(w => w.id === id || w.id === quiet);
      expect(
        mine(await store.listWorkers(new Date(Date.now() - 60_000))).map(w => [
          w.name,
          w.pools,
          w.draining
        ])
      ).toEqual([
        ['w1', ['gpu', 'default'], false],
        ['w2', ['default'], false]
      ]);
      expect(await store.heartbeatWorker(id, true)).toBe(true);
      // Everyone older than "now" is forgotten, then only a fresh heartbeat brings one back.
      const cut = new Date(Date.now() + 1);
      await new Promise(r => setTimeout(r, 5));
      expect(mine(await store.listWorkers(cut))).toEqual([]);
      expect(await store.heartbeatWorker(quiet)).toBe(false);
      await store.registerWorker({ id, name: 'w1', pools: ['gpu'], host: 'h' });
      const [back] = mine(await store.listWorkers(cut));
      expect(back).toMatchObject({
        name: 'w1',
        pools: ['gpu'],
        draining: false
      });
      await store.removeWorker(id);
      expect(mine(await store.listWorkers(cut))).toEqual([]);
    });

    it('claims each Pending run once, under a lease, skipping rows other claimers hold', async () => {
      const ws = await workspace();
      const { flow } = await deployed(ws.id);
      const created: FlowRun[] = [];
      for (let i = 0; i < 4; i++) {
        created.push(
          await store.createRun({
            workspaceId: ws.id,
            flowId: flow.id,
            trigger: 'manual'
          })
        );
      }
      await store.createRun({
        workspaceId: ws.id,
        flowId: flow.id,
        trigger: 'manual',
        state: 'Scheduled'
      });

      const claims = await Promise.all(
        ['w1', 'w2', 'w3', 'w4'].map(owner =>
          store.claimNextPendingRun({
            owner,
            leaseMs: 60_000,
            workspaceId: ws.id
          })
        )
      );
      expect(claims.every(c => c !== null)).toBe(true);
      expect(new Set(claims.map(c => c!.id))).toEqual(
        new Set(created.map(r => r.id))
      );
      for (const claim of claims) {
        expect(claim).toMatchObject({ state: 'Running' });
        expect(claim!.leaseOwner).toMatch(/^w\d$/);
        expect(claim!.leaseExpiresAt!.getTime()).toBeGreaterThan(
          claim!.startedAt!.getTime()
        );
      }
      expect(new Set(claims.map(c => c!.leaseOwner)).size).toBe(4);
      expect(
        await store.claimNextPendingRun({
          owner: 'w5',
          leaseMs: 60_000,
          workspaceId: ws.id
        })
      ).toBeNull();
      for (const run of created) {
        expect(await eventTypes(ws.id, run.id)).toEqual([
          'flow_run.created',
          'flow_run.state:Pending->Running'
        ]);
      }

      const mine = claims[0]!;
      expect(await store.renewLease(mine.id, mine.leaseOwner!, 120_000)).toBe(
        true
      );
      expect(await store.renewLease(mine.id, 'someone-else', 120_000)).toBe(
        false
      );
      const renewed = await store.getRunById(mine.id);
      expect(renewed!.leaseExpiresAt!.getTime()).toBeGreaterThan(
        mine.leaseExpiresAt!.getTime()
      );
      const completed = await store.transitionRun(mine.id, 'Completed');
      expect(completed.leaseOwner).toBeNull();
      expect(await store.renewLease(mine.id, mine.leaseOwner!, 1000)).toBe(
        false
      );
    });

    if (backend.name === 'postgres') {
      it('migrates a fresh database once when two processes start together', async () => {
        const name = `fresh_${randomUUID().replace(/-/g, '')}`;
        await raw(store, `CREATE DATABASE ${name}`);
        const url = new URL(backend.url!());
        url.pathname = `/${name}`;
        const both = await Promise.all([
          openPostgresStore(url.toString()),
          openPostgresStore(url.toString())
        ]);
        try {
          const rows = await raw(
            both[0],
            'SELECT version FROM cellflow_migrations'
          );
          expect(rows.map(r => Number(r.version))).toEqual(
            loadMigrations().map(m => m.version)
          );
          const ws = await both[0].ensureWorkspace('shared');
          expect((await both[1].ensureWorkspace('shared')).id).toBe(ws.id);
        } finally {
          await Promise.all(both.map(s => s.close()));
        }
      });

      it('never lists an event past one whose transaction may still commit a lower id', async () => {
        const ws = await workspace();
        const slow = new pg.Client({ connectionString: backend.url!() });
        await slow.connect();
        try {
          await slow.query('BEGIN');
          const [early] = (
            await slow.query(
              "INSERT INTO events (workspace_id, type) VALUES ($1, 'early') RETURNING id",
              [ws.id]
            )
          ).rows;
          const late = await store.appendEvent({
            workspaceId: ws.id,
            type: 'late'
          });
          expect(late.id).toBeGreaterThan(Number(early.id));
          // 'late' is committed but 'early' (lower id) is not yet: listing 'late' now would let a
          // client resume past 'early' and lose it.
          expect(await store.listEvents({ workspaceId: ws.id })).toEqual([]);
          await slow.query('COMMIT');
          expect(
            (await store.listEvents({ workspaceId: ws.id })).map(e => e.type)
          ).toEqual(['early', 'late']);
        } finally {
          await slow.end();
        }
      });

      it('claims past a run another transaction holds locked, without waiting (SKIP LOCKED)', async () => {
        const ws = await workspace();
        const { flow } = await deployed(ws.id);
        const held = await store.createRun({
          workspaceId: ws.id,
          flowId: flow.id,
          trigger: 'manual'
        });
        const free = await store.createRun({
          workspaceId: ws.id,
          flowId: flow.id,
          trigger: 'manual'
        });
        // Another worker in the middle of claiming `held`: its row lock stays until we roll back.
        const other = new pg.Client({ connectionString: backend.url!() });
        await other.connect();
        try {
          await other.query('BEGIN');
          await other.query(
            'SELECT id FROM flow_runs WHERE id = $1 FOR UPDATE',
            [held.id]
          );
          // Without SKIP LOCKED this claim would block on `held` until the other transaction ends.
          const claimed = await store.claimNextPendingRun({
            owner: 'w',
            leaseMs: 60_000,
            workspaceId: ws.id
          });
          expect(claimed?.id).toBe(free.id);
          expect(
            await store.claimNextPendingRun({
              owner: 'w',
              leaseMs: 60_000,
              workspaceId: ws.id
            })
          ).toBeNull();
          await other.query('ROLLBACK');
          expect(
            (
              await store.claimNextPendingRun({
                owner: 'w',
                leaseMs: 60_000,
                workspaceId: ws.id
              })
            )?.id
          ).toBe(held.id);
        } finally {
          await other.end();
        }
      });

      it('gives many concurrent claimers distinct runs (FOR UPDATE SKIP LOCKED)', async () => {
        const ws = await workspace();
        const { flow } = await deployed(ws.id);
        const created: string[] = [];
        for (let i = 0; i < 8; i++) {
          created.push(
            (
              await store.createRun({
                workspaceId: ws.id,
                flowId: flow.id,
                trigger: 'manual'
              })
            ).id
          );
        }
        const claims = await Promise.all(
          created.map((_, i) =>
            store.claimNextPendingRun({
              owner: `c${i}`,
              leaseMs: 60_000,
              workspaceId: ws.id
            })
          )
        );
        // Without SKIP LOCKED a claimer that waited on a taken row gets nothing, or the same row.
        expect(claims.map(c => c?.id).sort()).toEqual([...created].sort());
      });
    }

    it('marks Running runs Crashed with a reason, and their open tasks with them', async () => {
      const ws = await workspace();
      const { flow } = await deployed(ws.id);
      const running = await runInState(ws.id, flow.id, ['Pending', 'Running']);
      const [t1, t2, t3, t4] = await store.createTaskRuns(running.id, [
        'a',
        'b',
        'c',
        'd'
      ]);
      await store.transitionTaskRun(t1.id, 'Running');
      await store.transitionTaskRun(t1.id, 'Completed');
      await store.transitionTaskRun(t2.id, 'Running');
      await store.transitionTaskRun(t3.id, 'Running');
      await store.transitionTaskRun(t3.id, 'AwaitingRetry', {
        attemptError: { name: 'E', value: 'x' }
      });
      void t4;
      const done = await runInState(ws.id, flow.id, [
        'Pending',
        'Running',
        'Completed'
      ]);
      const pending = await runInState(ws.id, flow.id, ['Pending']);

      const crashed = await store.crashRunningRuns('Server restarted');
      expect(crashed.map(r => r.id)).toContain(running.id);
      expect(crashed.map(r => r.id)).not.toContain(done.id);
      const after = await store.getRun(ws.id, running.id);
      expect(after).toMatchObject({
        state: 'Crashed',
        stateReason: 'Server restarted'
      });
      expect(after?.endedAt).toBeInstanceOf(Date);
      expect(
        after?.taskRuns.map(t => [
          t.taskName,
          t.state,
          t.attemptList.map(a => a.state)
        ])
      ).toEqual([
        ['a', 'Completed', ['Completed']],
        ['b', 'Crashed', ['Crashed']],
        ['c', 'Crashed', ['Failed']],
        ['d', 'Cancelled', []]
      ]);
      expect((await store.getRunById(done.id))?.state).toBe('Completed');
      expect((await store.getRunById(pending.id))?.state).toBe('Pending');
      expect((await eventTypes(ws.id, running.id)).slice(-4)).toEqual([
        'flow_run.state:Running->Crashed',
        'task_run.state:Running->Crashed',
        'task_run.state:AwaitingRetry->Crashed',
        'task_run.state:Pending->Cancelled'
      ]);
      expect(
        await store.crashRunningRuns('again', {
          leaseOwner: `nobody-${randomUUID()}`
        })
      ).toEqual([]);

      // A dead worker's runs, by owner or by expired lease, leave other workers' runs alone.
      await store.createRun({
        workspaceId: ws.id,
        flowId: flow.id,
        trigger: 'manual'
      });
      await store.createRun({
        workspaceId: ws.id,
        flowId: flow.id,
        trigger: 'manual'
      });
      const dead = `dead-${randomUUID()}`;
      const alive = `alive-${randomUUID()}`;
      const deadRun = await store.claimNextPendingRun({
        owner: dead,
        leaseMs: 1,
        workspaceId: ws.id
      });
      const liveRun = await store.claimNextPendingRun({
        owner: alive,
        leaseMs: 3_600_000,
        workspaceId: ws.id
      });
      const byOwner = await store.crashRunningRuns('worker lost', {
        leaseOwner: dead
      });
      expect(byOwner.map(r => r.id)).toEqual([deadRun!.id]);
      const byExpiry = await store.crashRunningRuns('lease expired', {
        leaseExpiredBefore: new Date(deadRun!.leaseExpiresAt!.getTime() + 1000)
      });
      expect(byExpiry.map(r => r.id)).not.toContain(liveRun!.id);
      expect((await store.getRunById(liveRun!.id))?.state).toBe('Running');
    });

    it("names the workspace's latest event, after which listing gives only what comes next", async () => {
      const ws = await workspace();
      const other = await workspace();
      expect(await store.latestEventId(ws.id)).toBe(0);
      const first = await store.appendEvent({ workspaceId: ws.id, type: 'a' });
      await store.appendEvent({ workspaceId: other.id, type: 'theirs' });
      expect(await store.latestEventId(ws.id)).toBe(first.id);
      const second = await store.appendEvent({ workspaceId: ws.id, type: 'b' });
      const latest = await store.latestEventId(ws.id);
      expect(latest).toBe(second.id);
      expect(
        await store.listEvents({ workspaceId: ws.id, afterId: latest })
      ).toEqual([]);
    });

    it('appends custom events and lists them since an id, by flow and by run', async () => {
      const ws = await workspace();
      const other = await workspace();
      const { flow } = await deployed(ws.id);
      const run = await store.createRun({
        workspaceId: ws.id,
        flowId: flow.id,
        trigger: 'manual'
      });
      const custom = await store.appendEvent({
        workspaceId: ws.id,
        flowRunId: run.id,
        type: 'note',
        payload: { n: 1 }
      });
      expect(custom).toMatchObject({
        type: 'note',
        payload: { n: 1 },
        flowRunId: run.id,
        flowId: null
      });
      const all = await store.listEvents({ workspaceId: ws.id });
      expect(all.map(e => e.type)).toEqual([
        'flow.deployed',
        'flow_run.created',
        'note'
      ]);
      expect(all.map(e => e.id)).toEqual(
        [...all.map(e => e.id)].sort((x, y) => x - y)
      );
      expect(
        (
          await store.listEvents({ workspaceId: ws.id, afterId: all[0].id })
        ).map(e => e.type)
      ).toEqual(['flow_run.created', 'note']);
      expect(
        (await store.listEvents({ workspaceId: ws.id, flowId: flow.id })).map(
          e => e.type
        )
      ).toEqual(['flow.deployed', 'flow_run.created']);
      expect(
        (await store.listEvents({ workspaceId: ws.id, flowRunId: run.id })).map(
          e => e.type
        )
      ).toEqual(['flow_run.created', 'note']);
      expect(
        (await store.listEvents({ workspaceId: ws.id, limit: 1 })).map(
          e => e.type
        )
      ).toEqual(['flow.deployed']);
      expect(await store.listEvents({ workspaceId: other.id })).toEqual([]);
    });

    it('finds a workspace by name without creating one', async () => {
      const ws = await workspace();
      expect(await store.findWorkspaceByName(ws.name)).toEqual(ws);
      const missing = `ws-${randomUUID()}`;
      expect(await store.findWorkspaceByName(missing)).toBeNull();
      expect(await store.findWorkspaceByName(missing)).toBeNull();
    });

    it('keeps task cache entries per workspace, until they expire', async () => {
      const ws = await workspace();
      const other = await workspace();
      const t0 = new Date('2026-12-07T10:00:00.000Z');
      const at = (s: number) => new Date(t0.getTime() + s * 1000);
      const entry = {
        variables: {
          serializer: 'pickle',
          values: { rows: 'gAR=' },
          modules: {}
        },
        outputs: [{ output_type: 'stream', name: 'stdout', text: 'hi\n' }]
      };
      expect(await store.getTaskCacheEntry(ws.id, 'k1', t0)).toBeNull();
      expect(
        await store.putTaskCacheEntry(
          ws.id,
          {
            cacheKey: 'k1',
            taskName: 'extract',
            flowRunId: 'run-1',
            entry,
            createdAt: t0,
            expiresAt: at(3600)
          },
          1_000_000
        )
      ).toEqual({ evicted: [] });
      const hit = await store.getTaskCacheEntry(ws.id, 'k1', at(10));
      expect(hit).toMatchObject({
        workspaceId: ws.id,
        cacheKey: 'k1',
        taskName: 'extract',
        flowRunId: 'run-1',
        entry,
        sizeBytes: Buffer.byteLength(JSON.stringify(entry)),
        createdAt: t0,
        expiresAt: at(3600),
        lastUsedAt: at(10)
      });
      // Never shared across workspaces: the same key in another workspace finds nothing.
      expect(await store.getTaskCacheEntry(other.id, 'k1', at(10))).toBeNull();
      // Expired at its expiry.
      expect(await store.getTaskCacheEntry(ws.id, 'k1', at(3600))).toBeNull();
      expect(
        await store.getTaskCacheEntry(ws.id, 'k1', at(3599))
      ).not.toBeNull();
      // A put replaces the entry under the same key, and drops the workspace's expired ones.
      await store.putTaskCacheEntry(
        ws.id,
        {
          cacheKey: 'k2',
          taskName: 'other',
          flowRunId: 'run-2',
          entry: {},
          createdAt: at(3600),
          expiresAt: at(7200)
        },
        1_000_000
      );
      expect(
        await raw(
          store,
          `SELECT cache_key FROM task_cache WHERE workspace_id = ${quote(ws.id)} ORDER BY cache_key`
        )
      ).toEqual([{ cache_key: 'k2' }]);
      await store.putTaskCacheEntry(
        ws.id,
        {
          cacheKey: 'k2',
          taskName: 'other',
          flowRunId: 'run-3',
          entry: { again: true },
          createdAt: at(3700),
          expiresAt: at(9000)
        },
        1_000_000
      );
      expect(
        await store.getTaskCacheEntry(ws.id, 'k2', at(3701))
      ).toMatchObject({
        flowRunId: 'run-3',
        entry: { again: true },
        expiresAt: at(9000)
      });
    });

    it('bounds the task cache of a workspace, evicting the least recently used', async () => {
      const ws = await workspace();
      const other = await workspace();
      const t0 = new Date('2026-12-07T10:00:00.000Z');
      const at = (s: number) => new Date(t0.getTime() + s * 1000);
      const entry = { blob: 'x'.repeat(90) }; // 101 bytes of JSON
      const size = Buffer.byteLength(JSON.stringify(entry));
      const put = (workspaceId: string, key: string, s: number) =>
        store.putTaskCacheEntry(
          workspaceId,
          {
            cacheKey: key,
            taskName: 't',
            flowRunId: 'run',
            entry,
            createdAt: at(s),
            expiresAt: at(s + 3600)
          },
          size * 3
        );
      await put(ws.id, 'a', 1);
      await put(ws.id, 'b', 2);
      await put(ws.id, 'c', 3);
      await put(other.id, 'z', 3);
      // 'a' used after 'b': 'b' is now the least recently used.
      expect(await store.getTaskCacheEntry(ws.id, 'a', at(4))).not.toBeNull();
      expect(await put(ws.id, 'd', 5)).toEqual({ evicted: ['b'] });
      const keys = async (id: string) =>
        (
          await raw(
            store,
            `SELECT cache_key FROM task_cache WHERE workspace_id = ${quote(id)} ORDER BY cache_key`
          )
        ).map(r => r.cache_key);
      expect(await keys(ws.id)).toEqual(['a', 'c', 'd']);
      // The other workspace's entries count against its own bound only.
      expect(await keys(other.id)).toEqual(['z']);
      // An entry larger than the bound on its own is refused, naming the task; nothing is evicted.
      await expect(
        store.putTaskCacheEntry(
          ws.id,
          {
            cacheKey: 'huge',
            taskName: 'extract',
            flowRunId: 'run',
            entry: { blob: 'x'.repeat(size * 3) },
            createdAt: at(6),
            expiresAt: at(60)
          },
          size * 3
        )
      ).rejects.toThrow(
        /task 'extract' \(\d+ bytes\) is larger than the workspace's task cache \(303 bytes\)/
      );
      expect(await keys(ws.id)).toEqual(['a', 'c', 'd']);
      await expect(
        store.putTaskCacheEntry(
          `ws-${randomUUID()}`,
          {
            cacheKey: 'k',
            taskName: 't',
            flowRunId: 'r',
            entry: {},
            createdAt: at(1),
            expiresAt: at(2)
          },
          1000
        )
      ).rejects.toBeInstanceOf(NotFoundError);
    });

    it('puts, lists, reads and deletes secrets per workspace, listing no ciphertext', async () => {
      const ws = await workspace();
      const other = await workspace();
      const first = await store.putSecret(ws.id, 'TOKEN', 'v1:a:b:c');
      expect(first).toEqual({
        name: 'TOKEN',
        createdAt: expect.any(Date),
        updatedAt: expect.any(Date),
        created: true
      });
      expect(first.updatedAt).toEqual(first.createdAt);
      const replaced = await store.putSecret(ws.id, 'TOKEN', 'v1:d:e:f');
      expect(replaced.created).toBe(false);
      expect(replaced.createdAt).toEqual(first.createdAt);
      expect(replaced.updatedAt.getTime()).toBeGreaterThan(
        first.updatedAt.getTime()
      );
      // Byte order: upper case before underscore before lower case, on both back ends.
      for (const name of ['b_key', 'API_KEY', 'a', '_X', 'Z']) {
        expect((await store.putSecret(ws.id, name, `v1:${name}`)).created).toBe(
          true
        );
      }
      const listed = await store.listSecrets(ws.id);
      expect(listed.map(s => s.name)).toEqual([
        'API_KEY',
        'TOKEN',
        'Z',
        '_X',
        'a',
        'b_key'
      ]);
      expect(listed[1]).toEqual({
        name: 'TOKEN',
        createdAt: first.createdAt,
        updatedAt: replaced.updatedAt
      });
      expect(JSON.stringify(listed)).not.toContain('v1:');
      expect(await store.getSecretCiphertexts(ws.id)).toEqual([
        { name: 'API_KEY', ciphertext: 'v1:API_KEY' },
        { name: 'TOKEN', ciphertext: 'v1:d:e:f' },
        { name: 'Z', ciphertext: 'v1:Z' },
        { name: '_X', ciphertext: 'v1:_X' },
        { name: 'a', ciphertext: 'v1:a' },
        { name: 'b_key', ciphertext: 'v1:b_key' }
      ]);

      // Workspace B never sees, replaces or deletes A's secrets; its own of the same name is its own.
      expect(await store.listSecrets(other.id)).toEqual([]);
      expect(await store.getSecretCiphertexts(other.id)).toEqual([]);
      expect(await store.deleteSecret(other.id, 'TOKEN')).toBe(false);
      expect(
        (await store.putSecret(other.id, 'TOKEN', 'v1:other')).created
      ).toBe(true);
      expect(await store.getSecretCiphertexts(other.id)).toEqual([
        { name: 'TOKEN', ciphertext: 'v1:other' }
      ]);
      expect(
        (await store.getSecretCiphertexts(ws.id)).find(s => s.name === 'TOKEN')
      ).toEqual({ name: 'TOKEN', ciphertext: 'v1:d:e:f' });

      expect(await store.deleteSecret(ws.id, 'TOKEN')).toBe(true);
      expect(await store.deleteSecret(ws.id, 'TOKEN')).toBe(false);
      expect((await store.listSecrets(ws.id)).map(s => s.name)).not.toContain(
        'TOKEN'
      );
      expect((await store.listSecrets(other.id)).map(s => s.name)).toEqual([
        'TOKEN'
      ]);
      await expect(
        store.putSecret(randomUUID(), 'TOKEN', 'v1:x')
      ).rejects.toBeInstanceOf(NotFoundError);
    });

    it('gives one of two concurrent first puts of a secret created, the other replaced', async () => {
      const ws = await workspace();
      const results = await Promise.all([
        store.putSecret(ws.id, 'RACE', 'v1:one'),
        store.putSecret(ws.id, 'RACE', 'v1:two')
      ]);
      expect(results.map(r => r.created).sort()).toEqual([false, true]);
      expect(await store.listSecrets(ws.id)).toHaveLength(1);
    });

    // Last: it closes and reopens the shared store.
    it('re-applies nothing on reopen, keeps the data, and refuses a database newer than the code', async () => {
      const ws = await workspace();
      await store.close();
      // A failing migration leaves nothing behind: all pending files go in one transaction.
      const current = loadMigrations();
      const broken = [
        ...current,
        {
          version: current.length + 1,
          name: 'broken',
          sql: 'CREATE TABLE half_done (x int); SELECT 1/0;'
        }
      ];
      await expect(backend.open(broken)).rejects.toThrow(
        `Migration ${current.length + 1} (broken) failed: division by zero`
      );
      store = await backend.open();
      expect(
        await raw(
          store,
          "SELECT 1 FROM pg_tables WHERE tablename = 'half_done'"
        )
      ).toEqual([]);
      await raw(
        store,
        "INSERT INTO cellflow_migrations (version, name) VALUES (99, 'from_the_future')"
      );
      await store.close();
      await expect(backend.open()).rejects.toBeInstanceOf(SchemaTooNewError);
      // With code that knows version 99, the database opens; remove the marker, then open as usual.
      const future = [
        ...loadMigrations(),
        { version: 99, name: 'from_the_future', sql: 'SELECT 1' }
      ];
      const knowing = await backend.open(future);
      await raw(knowing, 'DELETE FROM cellflow_migrations WHERE version = 99');
      await knowing.close();
      store = await backend.openDefault();
      expect(store.kind).toBe(backend.name);
      expect(
        (await raw(store, 'SELECT version FROM cellflow_migrations')).map(r =>
          Number(r.version)
        )
      ).toEqual(loadMigrations().map(m => m.version));
      expect((await store.getWorkspace(ws.id))?.name).toBe(ws.name);
    });
  }
);
