/**
 * The run loop's cache over the server's store (runs/task-cache-store.ts): entries round-trip through
 * the task_cache table of one workspace, the outputs kept for later runs are masked as the run's own
 * are, and another workspace's adapter never finds them.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';

import type { TaskCacheEntry } from '../../src/flow/task-cache.js';
import { makeMasker } from '../src/runs/mask.js';
import { workspaceTaskCache } from '../src/runs/task-cache-store.js';
import { openPgliteStore } from '../src/store/index.js';
import type { Store } from '../src/store/store.js';

let store: Store;

beforeAll(async () => {
  store = await openPgliteStore();
});
afterAll(async () => {
  await store?.close();
});

it('keeps an entry per workspace, with its outputs masked', async () => {
  const alpha = await store.ensureWorkspace('cache-alpha');
  const beta = await store.ensureWorkspace('cache-beta');
  const secret = 'tok-5e3c-never-stored';
  const cache = workspaceTaskCache(
    store,
    alpha.id,
    1_000_000,
    makeMasker([secret])
  );
  const t0 = Date.parse('2026-12-07T10:00:00Z');
  const entry: TaskCacheEntry = {
    key: 'k',
    taskName: 'extract',
    runId: 'run-1',
    createdAt: t0,
    expiresAt: t0 + 3_600_000,
    variables: { serializer: 'pickle', values: { n: 'gAVLAy4=' }, modules: {} },
    outputs: [
      { output_type: 'stream', name: 'stdout', text: `token ${secret}\n` }
    ]
  };
  await cache.put(entry);
  const back = await cache.get('k', t0 + 1000);
  expect(back).toEqual({
    ...entry,
    outputs: [{ output_type: 'stream', name: 'stdout', text: 'token ***\n' }]
  });
  expect(await cache.get('k', t0 + 3_600_000)).toBeNull();
  expect(
    await workspaceTaskCache(store, beta.id, 1_000_000).get('k', t0 + 1000)
  ).toBeNull();
});
