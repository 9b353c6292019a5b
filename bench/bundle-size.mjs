// The extension's initial bundle (what the lab downloads from jupyterlab-cellflow when it starts) and the
// chunks loaded only later, danfojs's above all, from the production build. The initial set is not
// guessed from file names: a real `jupyter lab` from .venv is opened in headless chromium and the files
// it requests from the extension's static folder until the Cellflow panel is there are recorded.
// Rewrites the bundle section of bench/README.md, then rebuilds the development build.
//
//   node bench/bundle-size.mjs               (--no-build: measure the build in place, print only)
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

import { freePort, machine, ROOT, writeReadmeSection } from './lib.mjs';

const { values } = parseArgs({
  options: { 'no-build': { type: 'boolean', default: false } }
});
const STATIC = join(ROOT, 'jupyterlab_cellflow', 'labextension', 'static');
const VENV_BIN = join(ROOT, '.venv', 'bin');
const env = { ...process.env, PATH: `${VENV_BIN}:${process.env.PATH}` };
// The UI tests' Playwright (the one copy galata uses) drives Debian's chromium: no browser download here.
const { chromium } = createRequire(join(ROOT, 'ui-tests', 'package.json'))(
  'playwright-core'
);

function npmRun(script) {
  execFileSync('npm', ['run', script], { cwd: ROOT, env, stdio: 'inherit' });
}

/**
 * The files of the current build, with their sizes as served and gzipped: the remoteEntry the lab loads
 * (labextension/package.json names it) and every chunk in its chunk-file map. Files of earlier builds
 * stay in the folder (the builder does not empty it), so a directory listing would overcount.
 */
function buildFiles() {
  const manifest = JSON.parse(
    readFileSync(join(STATIC, '..', 'package.json'), 'utf8')
  );
  const entry = manifest.jupyterlab._build.load.replace(/^static\//, '');
  const text = readFileSync(join(STATIC, entry), 'utf8');
  // `__webpack_require__.u = chunkId => chunkId + "." + {"lib_index_js": "6e23…", …}[chunkId] + ".js"`
  // in development, `$.u=e=>e+"."+({417:"9583…",…})[e]+".js?v=…"` in production.
  const u = text.search(/\.u\s*=/);
  const map = text.slice(u, text.indexOf('}', u));
  const names = [...map.matchAll(/"?([\w-]+)"?\s*:\s*"([0-9a-f]+)"/g)].map(
    ([, id, hash]) => `${id}.${hash}.js`
  );
  if (names.length === 0) {
    throw new Error(`no chunk-file map found in ${entry}`);
  }
  return [entry, ...names].map(name => {
    const bytes = readFileSync(join(STATIC, name));
    return { name, raw: bytes.length, gzip: gzipSync(bytes).length };
  });
}

/**
 * The files of the chunks that make up the shared module `danfojs`: the remoteEntry registers it with a
 * factory that loads them (`name:"danfojs",…factory:()=>Promise.all([$.e(396),$.e(690)])` in production).
 */
function danfojsFiles(files) {
  const entry = files.find(f => f.name.startsWith('remoteEntry.'));
  const text = readFileSync(join(STATIC, entry.name), 'utf8');
  const at = text.search(/name:\s*"danfojs"/);
  if (at < 0) {
    throw new Error(`${entry.name} does not register danfojs as a module`);
  }
  const factory = text.slice(at, text.indexOf('.then(', at));
  const ids = [...factory.matchAll(/\.e\("?([\w-]+)"?\)/g)].map(m => m[1]);
  const chunkFiles = ids.map(id => {
    const file = files.find(f => f.name.startsWith(`${id}.`));
    if (!file) {
      throw new Error(`no file in ${STATIC} for danfojs's chunk ${id}`);
    }
    return file;
  });
  if (!chunkFiles.some(f => f.raw > 1e6)) {
    throw new Error(
      `danfojs's chunks (${ids.join(', ')}) hold less than 1 MB: not danfojs`
    );
  }
  return chunkFiles;
}

/** Start `jupyter lab` (a throwaway token, root and Cellflow profile) and resolve once it answers. */
async function startLab() {
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'cellflow-bundle-'));
  const lab = spawn(
    join(VENV_BIN, 'jupyter'),
    [
      'lab',
      '--no-browser',
      '--allow-root',
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.root_dir=${dir}`,
      `--IdentityProvider.token=${token}`
    ],
    {
      env: { ...env, CELLFLOW_CONFIG_DIR: join(dir, 'cellflow') },
      stdio: ['ignore', 'ignore', 'pipe']
    }
  );
  let log = '';
  lab.stderr.on('data', chunk => (log += chunk));
  const url = `http://127.0.0.1:${port}`;
  await new Promise((resolve, reject) => {
    lab.once('exit', code =>
      reject(new Error(`jupyter lab exited (${code}) before serving:\n${log}`))
    );
    // The lab prints its URL on stderr once it listens.
    lab.stderr.on('data', () => {
      if (log.includes(`127.0.0.1:${port}/lab`)) {
        resolve();
      }
    });
  });
  return {
    url,
    token,
    stop: () => {
      lab.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** The names of the extension's static files the lab requests while it starts. */
async function filesRequestedAtStart() {
  const lab = await startLab();
  const browser = await chromium.launch({
    executablePath: process.env.CELLFLOW_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run']
  });
  try {
    const page = await browser.newPage();
    const requested = new Set();
    const marker = '/lab/extensions/jupyterlab-cellflow/static/';
    page.on('request', request => {
      const path = new URL(request.url()).pathname;
      if (path.includes(marker)) {
        requested.add(path.slice(path.indexOf(marker) + marker.length));
      }
    });
    await page.goto(`${lab.url}/lab?token=${lab.token}`);
    // The panel's tab exists once the extension's plugins have activated.
    await page
      .locator('[data-id="cellflow-panel"]')
      .waitFor({ state: 'attached', timeout: 120000 });
    await page.waitForLoadState('networkidle');
    return requested;
  } finally {
    await browser.close();
    lab.stop();
  }
}

const kb = bytes => `${(bytes / 1024).toFixed(1)} KiB`;
const total = files => ({
  raw: files.reduce((s, f) => s + f.raw, 0),
  gzip: files.reduce((s, f) => s + f.gzip, 0)
});
const row = (label, files) => {
  const t = total(files);
  return [label, String(files.length), kb(t.raw), kb(t.gzip)];
};

/** A Markdown table with padded columns, as prettier writes it (so `npm run lint` stays clean). */
function table(header, rows) {
  const widths = header.map((_, i) =>
    Math.max(...[header, ...rows].map(r => r[i].length))
  );
  const line = cells =>
    `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [
    line(header),
    line(widths.map(w => '-'.repeat(w))),
    ...rows.map(line)
  ].join('\n');
}

if (!values['no-build']) {
  npmRun('build:prod');
}
const files = buildFiles();
const danfojs = danfojsFiles(files);
const requested = await filesRequestedAtStart();
const initial = files.filter(f => requested.has(f.name));
if (!initial.some(f => f.name.startsWith('remoteEntry.'))) {
  throw new Error(
    `the lab did not load the extension's remoteEntry from ${STATIC} (is the extension installed in .venv?)`
  );
}
const early = danfojs.filter(f => requested.has(f.name));
if (early.length > 0) {
  throw new Error(
    `danfojs is in the initial bundle: ${early.map(f => f.name).join(', ')} loaded at start`
  );
}
const later = files.filter(f => !requested.has(f.name) && !danfojs.includes(f));
console.log('initial:', initial.map(f => f.name).join(', '));
console.log('later:', later.map(f => f.name).join(', '));
console.log('danfojs:', danfojs.map(f => f.name).join(', '));

if (values['no-build']) {
  // The build in place may be the development one: the README reports production builds only.
  process.exit(0);
}
const date = new Date().toISOString().slice(0, 10);
writeReadmeSection(
  'bundle',
  [
    `Measured ${date} on ${machine()}; production build (\`npm run build:prod\`), files of`,
    '`jupyterlab_cellflow/labextension/static`. "Loaded at start" is what a real `jupyter lab` (.venv)',
    'requested from the extension in headless chromium until the Cellflow panel was there.',
    'Command: `node bench/bundle-size.mjs`',
    '',
    table(
      ['Files', 'Count', 'Size', 'Gzip'],
      [
        row('Initial bundle: remoteEntry + chunks loaded at start', initial),
        row('Loaded later, without danfojs (the data preview, …)', later),
        row('danfojs chunks, loaded on the first column summary', danfojs),
        row('Initial bundle if danfojs were in it (initial + danfojs)', [
          ...initial,
          ...danfojs
        ])
      ]
    ),
    '',
    `danfojs is not requested at start (checked by the benchmark): the initial bundle is ${(
      (100 * total(initial).gzip) /
      total([...initial, ...danfojs]).gzip
    ).toFixed(1)} % of what it would be with danfojs in it (gzip).`
  ].join('\n')
);
// writeReadmeSection trims the text; prettier puts back the blank lines Markdown wants around it.
execFileSync(
  join(ROOT, 'node_modules', '.bin', 'prettier'),
  ['--write', 'bench/README.md'],
  { cwd: ROOT, stdio: 'inherit' }
);
// Leave the development build in place, as the other tools expect.
npmRun('build');
