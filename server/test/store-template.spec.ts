/**
 * A new embedded store is unpacked from the build's template instead of running initdb
 * (store-template.ts): the same schema as initdb + migrations, on disk and in memory; a template of other
 * migrations is never taken; and an archive cannot write outside the data dir.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterAll, describe, expect, it } from 'vitest';

import type { DrizzleStore } from '../src/store/drizzle-store.js';
import { loadMigrations } from '../src/store/migrate.js';
import { openPgliteStore, type ClusterOrigin } from '../src/store/pglite.js';
import type { Store } from '../src/store/store.js';
import {
  findStoreTemplate,
  templateFileName,
  unpackStoreTemplate
} from '../src/store/store-template.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellflow-template-'));
  dirs.push(dir);
  return dir;
}
afterAll(() =>
  dirs.forEach(dir => rmSync(dir, { recursive: true, force: true }))
);

/** Tables, columns, indexes and constraints of the public schema, and the migrations recorded. */
async function schemaOf(store: Store): Promise<unknown[][]> {
  const db = store as DrizzleStore;
  // One at a time: the store is one connection.
  const out: unknown[][] = [];
  for (const text of [
    `SELECT table_name, column_name, data_type, is_nullable, column_default
       FROM information_schema.columns WHERE table_schema = 'public'
       ORDER BY table_name, column_name`,
    `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`,
    `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
       WHERE connamespace = 'public'::regnamespace ORDER BY conname`,
    'SELECT version, name FROM cellflow_migrations ORDER BY version'
  ]) {
    out.push(await db.queryRows(text));
  }
  return out;
}

async function open(
  dataDir: string | undefined,
  options: {
    template?: string | null;
    migrations?: ReturnType<typeof loadMigrations>;
  } = {}
): Promise<{ store: Store; origin: ClusterOrigin | null }> {
  let origin: ClusterOrigin | null = null;
  const store = await openPgliteStore(dataDir, {
    ...options,
    onOpen: how => (origin = how)
  });
  return { store, origin };
}

describe('the store template', () => {
  it('was built with the server, for this PGlite and these migrations', () => {
    const template = findStoreTemplate();
    expect(template).not.toBeNull();
    expect(template!.endsWith(templateFileName())).toBe(true);
  });

  it('gives a new data dir the schema initdb and every migration give', async () => {
    const fromTemplate = await open(join(tempDir(), 'store'));
    const fromInitdb = await open(join(tempDir(), 'store'), { template: null });
    try {
      expect(fromTemplate.origin).toBe('template');
      expect(fromInitdb.origin).toBe('initdb');
      const schema = await schemaOf(fromTemplate.store);
      expect(schema).toEqual(await schemaOf(fromInitdb.store));
      // Every migration is recorded, so none is applied again at the next start.
      expect(schema[3]).toHaveLength(loadMigrations().length);
    } finally {
      await fromTemplate.store.close();
      await fromInitdb.store.close();
    }
  });

  it('is written to and read back from disk: a reopened store keeps its rows', async () => {
    const dataDir = join(tempDir(), 'store');
    const first = await open(dataDir);
    const workspace = await first.store.ensureWorkspace('kept');
    await first.store.close();
    const again = await open(dataDir);
    try {
      expect(again.origin).toBe('existing');
      expect((await again.store.findWorkspaceByName('kept'))?.id).toBe(
        workspace.id
      );
    } finally {
      await again.store.close();
    }
  });

  it('starts an in-memory store too', async () => {
    const { store, origin } = await open(undefined);
    try {
      expect(origin).toBe('template');
      expect((await schemaOf(store))[3]).toHaveLength(loadMigrations().length);
    } finally {
      await store.close();
    }
  });

  it('is not taken by a build with other migrations: that store runs initdb', async () => {
    const fewer = loadMigrations().slice(0, 3);
    expect(findStoreTemplate(fewer)).toBeNull();
    const { store, origin } = await open(join(tempDir(), 'store'), {
      migrations: fewer
    });
    try {
      expect(origin).toBe('initdb');
      expect((await schemaOf(store))[3]).toHaveLength(3);
    } finally {
      await store.close();
    }
  });
});

/** A one-entry ustar archive, gzip'd. */
function tarOf(name: string, content: string): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000600\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(content.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('0', 156);
  header.write('ustar\0' + '00', 257);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) {
    sum += byte;
  }
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const body = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  body.write(content);
  return gzipSync(Buffer.concat([header, body, Buffer.alloc(1024)]));
}

describe('unpacking a template', () => {
  it('refuses an entry that leaves the data dir, naming it', () => {
    const dir = tempDir();
    const archive = join(dir, 'evil.tar.gz');
    writeFileSync(archive, tarOf('../outside', 'x'));
    expect(() => unpackStoreTemplate(archive, join(dir, 'data'))).toThrow(
      /entry "\.\.\/outside" leaves the data dir/
    );
    expect(existsSync(join(dir, 'outside'))).toBe(false);
  });

  it('refuses an archive without PG_VERSION: it is not a data dir', () => {
    const dir = tempDir();
    const archive = join(dir, 'other.tar.gz');
    writeFileSync(archive, tarOf('notes.txt', 'hello'));
    expect(() => unpackStoreTemplate(archive, join(dir, 'data'))).toThrow(
      /has no PG_VERSION/
    );
  });
});
