/**
 * The embedded PostgreSQL runs with PGLITE_SETTINGS (pglite-settings.ts) whatever store it opens: a
 * new data dir, one opened again (made before the settings existed, so nothing in it says so), and
 * in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import type { DrizzleStore } from '../src/store/drizzle-store.js';
import { openPgliteStore } from '../src/store/pglite.js';
import { PGLITE_SETTINGS } from '../src/store/pglite-settings.js';

const dir = mkdtempSync(join(tmpdir(), 'cellflow-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function settingsOf(dataDir: string | undefined) {
  const store = (await openPgliteStore(dataDir)) as DrizzleStore;
  try {
    const rows = await store.queryRows(
      `SELECT name, current_setting(name) AS value FROM pg_settings
        WHERE name IN (${Object.keys(PGLITE_SETTINGS)
          .map(name => `'${name}'`)
          .join(', ')})`
    );
    return Object.fromEntries(rows.map(row => [row.name, row.value]));
  } finally {
    await store.close();
  }
}

describe('the embedded store settings', () => {
  it('apply to a new data dir and to the same one opened again', async () => {
    const dataDir = join(dir, 'store');
    expect(await settingsOf(dataDir)).toEqual(PGLITE_SETTINGS);
    expect(await settingsOf(dataDir)).toEqual(PGLITE_SETTINGS);
  });

  it('apply to a store in memory', async () => {
    expect(await settingsOf(undefined)).toEqual(PGLITE_SETTINGS);
  });
});
