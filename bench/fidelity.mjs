// Fidelity beside papermill (issue 21): the notebooks of server/test/notebooks/fidelity, each run by a
// real Cellflow server through its CLI (`cellflow deploy`, then `cellflow run -p ... --watch`, as a
// user does; the executed notebook from GET /api/runs/ID/notebook) and by papermill 2.7.0's CLI, one
// after the other on the same machine and Python (.venv). Both executed notebooks are validated with
// nbformat and compared cell by cell after the normalisation of bench/fidelity-lib.mjs (the rules
// server/test/papermill-fidelity.spec.ts uses). Rewrites its table in bench/README.md.
//
//   npm run build:server && node bench/fidelity.mjs [--keep-readme]
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { startServer } from './cellflow-server.mjs';
import {
  CASES,
  FIDELITY_DIR,
  nbformatComplaint,
  normalise,
  papermillArgs,
  papermillEnvironment,
  papermillWorkdir,
  readCase,
  runPapermill,
  tally
} from './fidelity-lib.mjs';
import { ROOT, machine, writeReadmeSection } from './lib.mjs';

const { values: options } = parseArgs({
  options: { 'keep-readme': { type: 'boolean', default: false } }
});

const CLI = join(ROOT, 'server', 'bin', 'cellflow.js');
const seconds = ms => `${(ms / 1000).toFixed(2)} s`;

/** A `cellflow` command as a user types it; resolves with stdout, the exit code and the wall time. */
function cellflow(args, env) {
  const started = performance.now();
  return new Promise(resolve => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({
          stdout,
          stderr,
          code: error ? (error.code ?? 1) : 0,
          ms: performance.now() - started
        })
    );
  });
}

const environment = await papermillEnvironment();
if (environment.papermill !== '2.7.0' || environment.black) {
  throw new Error(
    `.venv must have papermill 2.7.0 and no black (scripts/setup.sh): ${JSON.stringify(environment)}`
  );
}
const loadBefore = loadavg()[0];
const server = await startServer();
const configDir = mkdtempSync(join(tmpdir(), 'cellflow-fidelity-cli-'));
const env = {
  ...process.env,
  CELLFLOW_CONFIG_DIR: configDir,
  CELLFLOW_API_URL: server.url,
  CELLFLOW_API_KEY: server.key
};
const work = papermillWorkdir();
const rows = [];
try {
  for (const c of CASES) {
    const source = readCase(c.file);
    const parameters = c.parameters ?? {};
    const name = `fidelity-${c.file.replace(/\.ipynb$/, '').replace(/\./g, '-')}`;

    // Cellflow: deploy + run --watch (two CLI processes, the run's kernel start included).
    const deployed = await cellflow(
      ['deploy', join(FIDELITY_DIR, c.file), '--name', name],
      env
    );
    if (deployed.code !== 0) {
      throw new Error(`cellflow deploy ${c.file}: ${deployed.stderr}`);
    }
    // `-p name=value` with the text papermill gets for the same value; the server types it.
    const args = papermillArgs(parameters);
    const params = [];
    for (let i = 0; i < args.length; i += 3) {
      params.push('-p', `${args[i + 1]}=${args[i + 2]}`);
    }
    const ran = await cellflow(['run', name, ...params, '--watch'], env);
    const runId = ran.stdout.split('\n')[0].trim();
    const cellflowMs = deployed.ms + ran.ms;
    const executed = await server.api('GET', `/api/runs/${runId}/notebook`);
    const { run } = await server.api('GET', `/api/runs/${runId}`);

    // papermill, on its own, after Cellflow's run ended.
    const pm = await runPapermill(c.file, parameters, work);

    const ours = normalise(executed, source);
    const theirs = normalise(pm.notebook, source);
    const counted = tally(ours, theirs);
    const valid = [
      await nbformatComplaint(executed),
      await nbformatComplaint(pm.notebook)
    ];
    rows.push({
      file: c.file,
      state: run.state,
      ...counted,
      valid,
      cellflowMs,
      papermillMs: pm.ms,
      papermillExit: pm.exitCode
    });
    console.log(
      `${c.file}: ${counted.identical}/${counted.compared} cells identical, notebook metadata ${counted.metadataSame ? 'equal' : 'differs'}; ` +
        `Cellflow ${run.state} ${seconds(cellflowMs)}, papermill exit ${pm.exitCode} ${seconds(pm.ms)}` +
        (valid.some(Boolean)
          ? `; nbformat: Cellflow ${valid[0] || 'valid'} / papermill ${valid[1] || 'valid'}`
          : '')
    );
  }
} finally {
  work.remove();
  rmSync(configDir, { recursive: true, force: true });
  await server.close();
}

const loadAfter = loadavg()[0];
const sum = key => rows.reduce((total, row) => total + row[key], 0);
const yes = flag => (flag ? 'yes' : '**no**');
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; each notebook run once by each tool, one after the other; 1-minute load average ${loadBefore.toFixed(1)} at the start, ${loadAfter.toFixed(1)} at the end.`,
  'Command: `npm run build:server && node bench/fidelity.mjs`',
  '',
  '| Notebook | Cells compared | Identical to papermill | Notebook metadata equal | Both valid nbformat | Cellflow run | Cellflow time | papermill time |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map(
    r =>
      `| ${r.file} | ${r.compared} | ${r.identical} | ${yes(r.metadataSame)} | ${yes(!r.valid.some(Boolean))} | ${r.state} | ${seconds(r.cellflowMs)} | ${seconds(r.papermillMs)}${r.papermillExit ? ` (exit ${r.papermillExit})` : ''} |`
  ),
  `| **${rows.length} notebooks** | **${sum('compared')}** | **${sum('identical')}** | **${rows.filter(r => r.metadataSame).length} of ${rows.length}** | **${rows.filter(r => !r.valid.some(Boolean)).length} of ${rows.length}** | | **${seconds(sum('cellflowMs'))}** | **${seconds(sum('papermillMs'))}** |`
].join('\n');
if (!options['keep-readme']) {
  writeReadmeSection('fidelity', table);
}
console.log(`\n${table}`);
