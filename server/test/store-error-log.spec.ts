/**
 * A failed store query is logged by its statement and the database's message and code, never with its
 * parameters: drizzle's errors carry them (`params`, and in their message), and they may be a user's
 * output. Checked for the one formatter, the API's 500 handler (Fastify's log) and the run service
 * (console.error).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  afterAll,
  afterEach,
  beforeAll,
  describe,
  expect,
  it,
  vi
} from 'vitest';

import { buildServer } from '../src/app.js';
import { RunService } from '../src/runs/service.js';
import { describeStoreError } from '../src/store/errors.js';
import type { Store } from '../src/store/store.js';
import {
  newTenant,
  openTestStore,
  type TestStore
} from './support/api-fixture.js';

/** 100 KB of a value no log may show, not even in part. */
const MARKER = 'SECRET-OUTPUT-'.repeat(7500);
const TRACE = 'SECRET-OUTPUT-SECRET';

let testStore: TestStore;
let store: Store;
/** A real drizzle error: a log line (the marker) for a run that does not exist breaks its foreign key. */
let failure: unknown;
const dirs: string[] = [];

beforeAll(async () => {
  testStore = await openTestStore();
  store = testStore.store;
  failure = await store
    .appendLogLines([
      {
        flowRunId: 'no-such-run',
        taskName: null,
        attempt: null,
        stream: 'stdout',
        text: MARKER,
        at: new Date()
      }
    ])
    .then(
      () => null,
      (error: unknown) => error
    );
});

afterEach(() => {
  vi.restoreAllMocks();
});

afterAll(async () => {
  await testStore?.close();
  for (const dir of dirs) {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The store, with `method` failing with the drizzle error. */
function failing(method: keyof Store): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === method) {
        return () => Promise.reject(failure);
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    }
  });
}

function expectNamesTheFailure(text: string) {
  expect(text).not.toContain(TRACE);
  expect(text.length).toBeLessThan(5000);
  expect(text).toMatch(/insert into "log_lines"/);
  expect(text).toMatch(/23503/); // foreign_key_violation
}

describe('store errors in logs', () => {
  it('the failing insert carries the value (the premise)', () => {
    expect(failure).toBeInstanceOf(Error);
    expect(String((failure as Error).message)).toContain(TRACE);
  });

  it('describeStoreError names the statement and the error, not the values', () => {
    expectNamesTheFailure(describeStoreError(failure));
  });

  it("the API's 500 handler logs no parameter", async () => {
    const lines: string[] = [];
    const app = await buildServer({
      store: failing('listFlows'),
      logger: true,
      logStream: { write: line => void lines.push(line) }
    });
    try {
      const tenant = await newTenant(store);
      const reply = await app.inject({
        method: 'GET',
        url: '/api/flows',
        headers: tenant.headers
      });
      expect(reply.statusCode).toBe(500);
      expect(reply.body).not.toContain(TRACE);
    } finally {
      await app.close();
    }
    const all = lines.join('');
    expect(all).not.toContain(TRACE);
    const failed = lines
      .map(line => JSON.parse(line) as { msg?: string; error?: string })
      .filter(entry => entry.msg === 'request failed');
    expect(failed).toHaveLength(1);
    expectNamesTheFailure(failed[0].error ?? '');
  });

  it('the run service logs a failed claim without its parameters', async () => {
    const logged: string[] = [];
    const capture = (...args: unknown[]) => void logged.push(args.join(' '));
    vi.spyOn(console, 'error').mockImplementation(capture);
    vi.spyOn(console, 'warn').mockImplementation(capture);
    const dataDir = mkdtempSync(join(tmpdir(), 'cellflow-log-'));
    dirs.push(dataDir);
    const service = new RunService({
      store: failing('claimNextPendingRun'),
      dataDir,
      warmKernels: 0,
      isolation: 'none',
      recheckMs: 60_000
    });
    service.start();
    try {
      await vi.waitFor(
        () => expect(logged.join('\n')).toMatch(/claiming a pending run/),
        { timeout: 10_000 }
      );
    } finally {
      await service.close();
    }
    expectNamesTheFailure(logged.join('\n'));
  });
});
