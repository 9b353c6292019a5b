#!/usr/bin/env node
/**
 * Bundles the compiled Cellflow server (server/lib, from `npm run build:server`) into the Python
 * package, so the wheel carries the server and `pip install jupyterlab-cellflow` is the whole product:
 *
 *   jupyterlab_cellflow/server/
 *     package.json            {name: cellflow, version, type: module}: the server reads its version here
 *     platform.json           the platform whose native addon was copied (the wheel's tag comes from it)
 *     lib/cellflow.js         the CLI and server, one ES module (esbuild)
 *     lib/pglite-worker.js    the embedded store's worker thread, found beside the CLI (pglite-thread.ts)
 *     migrations/*.sql        found by walking up from lib/ (migrate.ts)
 *     store-template/         a new store's cluster, unpacked instead of initdb (store-template.ts)
 *     node_modules/           what cannot be bundled: PGlite (it loads its .wasm and .data files from
 *                             beside its own modules) and zeromq (a native addon) with its loader,
 *                             for this machine's platform only
 *
 * Run by `npm run bundle:server` (part of `build:prod`, which the wheel's build hook runs).
 */
import { build } from 'esbuild';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SERVER = join(ROOT, 'server');
const OUT = join(ROOT, 'jupyterlab_cellflow', 'server');
const MODULES = join(ROOT, 'node_modules');

// Left out of the bundle: the two packages copied below, and optional native helpers that ws and pg
// try to load inside a try/catch (they fall back to plain JavaScript without them).
const COPIED = ['@electric-sql/pglite', 'zeromq'];
const OPTIONAL = ['bufferutil', 'utf-8-validate', 'pg-native'];

function fail(message) {
  process.stderr.write(`bundle-server: ${message}\n`);
  process.exit(1);
}

const workerEntry = join(SERVER, 'lib/server/src/store/pglite-worker.js');
if (!existsSync(workerEntry)) {
  fail(
    `${relative(ROOT, workerEntry)} is missing: run npm run build:server first`
  );
}

rmSync(OUT, { recursive: true, force: true });
mkdirSync(join(OUT, 'lib'), { recursive: true });

await build({
  entryPoints: {
    cellflow: join(SERVER, 'bin/cellflow.js'),
    'pglite-worker': workerEntry
  },
  outdir: join(OUT, 'lib'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: [...COPIED, ...OPTIONAL],
  // CommonJS dependencies call require() for Node's own modules; an ES module has none of its own.
  banner: {
    js: "import { createRequire as __cellflowRequire } from 'node:module'; const require = __cellflowRequire(import.meta.url);"
  },
  legalComments: 'linked',
  logLevel: 'warning'
});

const serverPackage = JSON.parse(
  readFileSync(join(SERVER, 'package.json'), 'utf8')
);
writeFileSync(
  join(OUT, 'package.json'),
  JSON.stringify(
    {
      name: serverPackage.name,
      version: serverPackage.version,
      private: true,
      type: 'module',
      license: serverPackage.license
    },
    null,
    2
  ) + '\n'
);
cpSync(join(SERVER, 'migrations'), join(OUT, 'migrations'), {
  recursive: true
});
// The new store's template (server/src/store/store-template.ts), found beside the migrations folder.
const template = join(SERVER, 'store-template');
if (!existsSync(template)) {
  fail('server/store-template is missing: run npm run build:server first');
}
cpSync(template, join(OUT, 'store-template'), { recursive: true });

// PGlite: its dist (modules, wasm, data, extension archives) and package.json, without maps and types.
const pglite = join(MODULES, '@electric-sql/pglite');
copyPackage(pglite, join(OUT, 'node_modules/@electric-sql/pglite'), [
  'package.json',
  'LICENSE',
  'dist'
]);

// zeromq: its JavaScript, and the prebuilt addon for this platform only (the wheel is tagged for it).
const platform = process.platform;
const arch = process.arch;
const zeromq = join(MODULES, 'zeromq');
const addonDir = join('build', platform, arch);
if (!existsSync(join(zeromq, addonDir))) {
  fail(`zeromq has no prebuilt addon for ${platform}-${arch}`);
}
copyPackage(zeromq, join(OUT, 'node_modules/zeromq'), [
  'package.json',
  'LICENSE.txt',
  'LICENSE_MPL-2.0.txt',
  'lib',
  'build/manifest.json',
  addonDir
]);
// zeromq loads its addon through cmake-ts's loader (a self-contained file).
copyPackage(join(MODULES, 'cmake-ts'), join(OUT, 'node_modules/cmake-ts'), [
  'package.json',
  'build/loader.js'
]);

writeFileSync(
  join(OUT, 'platform.json'),
  JSON.stringify({ platform, arch }, null, 2) + '\n'
);
process.stdout.write(
  `bundle-server: ${relative(ROOT, OUT)} for ${platform}-${arch}\n`
);

function copyPackage(from, to, entries) {
  for (const entry of entries) {
    const source = join(from, entry);
    if (!existsSync(source)) {
      fail(`${relative(ROOT, source)} is missing`);
    }
    cpSync(source, join(to, entry), {
      recursive: true,
      filter: path => !/\.(map|d\.ts|d\.cts|d\.mts|tsbuildinfo)$/.test(path)
    });
  }
}
