/**
 * A new embedded store starts from a template instead of running initdb (project issue 16: a server's
 * cold start on a new data dir under 2 s). initdb inside PGlite's WebAssembly instance takes 3-4 s on an
 * idle machine and 15 s on a busy one; unpacking a cluster that initdb made once, with the migrations
 * of the time already applied, takes a few hundred milliseconds. The template is made when the server
 * is built (`npm run build --workspace server`, scripts/build-store-template.mjs) and shipped beside
 * the code, like the migrations folder.
 *
 * Its name carries the PGlite version and a digest of the migration files it holds, so a template made
 * by another PGlite or before a migration changed is never used: the store falls back to initdb, then
 * migrates, as it always did. A template older than a newly added migration cannot be taken either way.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, normalize, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';

import {
  findMigrationsDir,
  loadMigrations,
  type Migration
} from './migrate.js';

export const TEMPLATE_DIR_NAME = 'store-template';

/** The installed PGlite's version, read from its package.json (its exports do not include it). */
export function pgliteVersion(): string {
  let dir = dirname(
    createRequire(import.meta.url).resolve('@electric-sql/pglite')
  );
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === '@electric-sql/pglite' && pkg.version) {
        return pkg.version;
      }
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error('the installed @electric-sql/pglite has no package.json');
    }
    dir = parent;
  }
}

/** The template's file name for this PGlite and these migrations. */
export function templateFileName(
  migrations: Migration[] = loadMigrations()
): string {
  const digest = createHash('sha256');
  for (const m of migrations) {
    digest.update(`${m.version}\0${m.name}\0${m.sql}\0`);
  }
  return `pglite-${pgliteVersion()}-${digest.digest('hex').slice(0, 16)}.tar.gz`;
}

/**
 * Where the template is written and looked for: a `store-template` folder beside the migrations folder
 * (server/ from source and compiled, the package's root in the wheel).
 */
export function templateDir(): string {
  return join(dirname(findMigrationsDir()), TEMPLATE_DIR_NAME);
}

/** The template for this PGlite and these migrations, or null when none was built. */
export function findStoreTemplate(
  migrations: Migration[] = loadMigrations()
): string | null {
  const file = join(templateDir(), templateFileName(migrations));
  return existsSync(file) ? file : null;
}

const BLOCK = 512;

/** A field of a tar header: NUL-terminated text. */
function field(header: Buffer, offset: number, length: number): string {
  const raw = header.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

function octal(header: Buffer, offset: number, length: number): number {
  const text = field(header, offset, length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/**
 * Unpacks a template (a gzip'd ustar archive of a PGlite data dir, as PGlite's dumpDataDir writes it:
 * folders and regular files only) into `dataDir`. PG_VERSION is written last: a data dir is taken as a
 * cluster once it has PG_VERSION, so an unpack that was cut short is redone at the next start.
 */
export function unpackStoreTemplate(file: string, dataDir: string): void {
  const tar = gunzipSync(readFileSync(file));
  const root = normalize(dataDir);
  let last: { path: string; data: Buffer; mode: number } | null = null;
  mkdirSync(root, { recursive: true, mode: 0o700 });
  for (let at = 0; at + BLOCK <= tar.length;) {
    const header = tar.subarray(at, at + BLOCK);
    if (header.every(byte => byte === 0)) {
      break;
    }
    const name = [field(header, 345, 155), field(header, 0, 100)]
      .filter(Boolean)
      .join('/');
    const size = octal(header, 124, 12);
    const mode = octal(header, 100, 8) & 0o777;
    const type = String.fromCharCode(header[156] || 48);
    const path = normalize(join(root, name));
    if (path !== root && !path.startsWith(root + sep)) {
      throw new Error(
        `store template ${file}: entry "${name}" leaves the data dir`
      );
    }
    const data = tar.subarray(at + BLOCK, at + BLOCK + size);
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === '5') {
      mkdirSync(path, { recursive: true, mode: mode || 0o700 });
    } else if (type === '0') {
      if (name.replace(/^\/+/, '') === 'PG_VERSION') {
        last = { path, data, mode };
        continue;
      }
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileSync(path, data, { mode: mode || 0o600 });
      chmodSync(path, mode || 0o600);
    } else {
      throw new Error(
        `store template ${file}: entry "${name}" is of tar type "${type}", not a folder or a file`
      );
    }
  }
  if (!last) {
    throw new Error(`store template ${file} has no PG_VERSION: not a data dir`);
  }
  writeFileSync(last.path, last.data, { mode: last.mode || 0o600 });
}

/**
 * Writes `archive` (the template's bytes) as this build's template, removing templates of other
 * PGlite versions or migrations, through a temporary file so a reader never sees half of it.
 */
export function saveStoreTemplate(
  archive: Uint8Array,
  migrations: Migration[] = loadMigrations()
): string {
  const dir = templateDir();
  mkdirSync(dir, { recursive: true });
  const name = templateFileName(migrations);
  for (const old of readdirSync(dir)) {
    if (old !== name) {
      rmSync(join(dir, old), { force: true });
    }
  }
  const file = join(dir, name);
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, archive);
  renameSync(partial, file);
  return file;
}
