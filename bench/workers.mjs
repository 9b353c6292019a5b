// Runs per minute with 1, 2 and 4 workers (issue 17): one PostgreSQL, one `cellflow server
// --no-executor`, N `cellflow worker`s each executing one run at a time (--max-concurrent-runs 1, so a
// worker is one slot and the figure shows what adding workers adds), real sandboxed kernels. A backlog of
// runs of a one-task flow (a 1 s sleep) is submitted at once; the figure is runs ended per minute, from
// the first submission to the last end. Then the same with the workers' kernels from a real Jupyter
// Enterprise Gateway (3.3.0, .venv-gateway; `cellflow worker --kernel-gateway`) beside the local
// kernels, in the same run. Needs `npm run build:server` first; run it alone.
//
//   node bench/workers.mjs [--runs-per-worker 8] [--no-readme]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';

import { startPostgres } from './chaos-postgres.mjs';
import { startEnterpriseGateway } from './enterprise-gateway.mjs';
import { ENDED_RUN, startServer } from './cellflow-server.mjs';
import { ROOT, machine, noopNotebook, writeReadmeSection } from './lib.mjs';

const CLI = join(ROOT, 'server', 'bin', 'cellflow.js');
const args = process.argv.slice(2);
const perWorker = Number(args[args.indexOf('--runs-per-worker') + 1] || 0) || 8;
const writeReadme = !args.includes('--no-readme');

function startWorker(dir, env, index, extra = []) {
  const dataDir = join(dir, `worker-${index}`);
  const proc = spawn(
    process.execPath,
    [
      CLI,
      'worker',
      '--health-port',
      '0',
      '--data-dir',
      dataDir,
      '--max-concurrent-runs',
      '1',
      '--name',
      `bench-${index}`,
      ...extra
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] }
  );
  let out = '';
  let err = '';
  proc.stderr.on('data', chunk => (err += chunk));
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', chunk => {
      out += chunk;
      if (/health on http/.test(out)) {
        resolve(proc);
      }
    });
    proc.once('exit', code =>
      reject(new Error(`cellflow worker exited (${code}): ${err}`))
    );
  });
}

async function stop(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return;
  }
  const exited = new Promise(resolve => proc.once('exit', resolve));
  proc.kill('SIGINT');
  proc.kill('SIGINT'); // a worker drains on the first signal; the second stops it now
  await exited;
}

/** A one-task flow whose task sleeps 1 s (the shared no-op notebook with that source). */
function sleepNotebook() {
  const notebook = noopNotebook(1);
  notebook.cells[0].source = '%%task sleep\nimport time\ntime.sleep(1)';
  return notebook;
}

async function measure(api, flowId, workers) {
  const count = perWorker * workers;
  const started = performance.now();
  const ids = [];
  for (let i = 0; i < count; i++) {
    ids.push((await api('POST', `/api/flows/${flowId}/runs`, {})).run.id);
  }
  const pending = new Set(ids);
  let failed = 0;
  while (pending.size > 0) {
    await new Promise(r => setTimeout(r, 100));
    for (const id of [...pending]) {
      const { run } = await api('GET', `/api/runs/${id}`);
      if (ENDED_RUN.has(run.state)) {
        pending.delete(id);
        if (run.state !== 'Completed') {
          failed++;
        }
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return { count, seconds, perMinute: (count / seconds) * 60, failed };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'cellflow-bench-workers-'));
  // A folder of its own: PostgreSQL runs as its own user, who cannot enter `dir` (0700).
  const pg = await startPostgres(
    mkdtempSync(join(tmpdir(), 'cellflow-bench-pg-'))
  );
  const env = {
    ...process.env,
    DATABASE_URL: pg.url,
    CELLFLOW_SECRETS_KEY: randomBytes(32).toString('base64'),
    PATH: `${join(ROOT, '.venv', 'bin')}:${process.env.PATH}`
  };
  Object.assign(process.env, {
    DATABASE_URL: env.DATABASE_URL,
    CELLFLOW_SECRETS_KEY: env.CELLFLOW_SECRETS_KEY
  });
  const server = await startServer(['--no-executor']);
  const workers = [];
  const rows = [];
  let gateway = null;
  const loadBefore = loadavg()[0];
  try {
    const { flow } = await server.api('POST', '/api/flows', {
      name: 'sleep',
      notebook: sleepNotebook()
    });
    for (const n of [1, 2, 4]) {
      while (workers.length < n) {
        workers.push(await startWorker(dir, env, workers.length + 1));
      }
      // One warm-up run: each worker's first kernel (and its warm one) started.
      await measure(server.api, flow.id, n);
      const result = await measure(server.api, flow.id, n);
      rows.push({ workers: n, kernels: 'local (sandbox)', ...result });
      console.log(
        `${n} worker(s): ${result.count} runs in ${result.seconds.toFixed(1)} s = ${result.perMinute.toFixed(1)} runs/min (${result.failed} not Completed)`
      );
    }
    // The same workers' kernels from Enterprise Gateway: the local ones stop first.
    for (const worker of workers.splice(0)) {
      await stop(worker);
    }
    gateway = await startEnterpriseGateway();
    const gatewayEnv = { ...env, CELLFLOW_GATEWAY_TOKEN: gateway.token };
    for (const n of [1, 2]) {
      while (workers.length < n) {
        workers.push(
          await startWorker(dir, gatewayEnv, workers.length + 11, [
            '--kernel-gateway',
            gateway.url
          ])
        );
      }
      await measure(server.api, flow.id, n);
      const result = await measure(server.api, flow.id, n);
      rows.push({ workers: n, kernels: 'Enterprise Gateway', ...result });
      console.log(
        `${n} worker(s) on Enterprise Gateway: ${result.count} runs in ${result.seconds.toFixed(1)} s = ${result.perMinute.toFixed(1)} runs/min (${result.failed} not Completed)`
      );
    }
  } finally {
    for (const worker of workers) {
      await stop(worker);
    }
    await gateway?.stop();
    await server.close();
    await pg.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  const base = rows[0].perMinute;
  const table = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; 1-minute load average ${loadBefore.toFixed(1)} at the start.`,
    `Command: \`npm run build:server && node bench/workers.mjs\` (${perWorker} runs per worker, after one warm-up round).`,
    '',
    '| Workers | Kernels | Runs | Time | Runs per minute | vs 1 worker, local | Not Completed |',
    '| ------- | ------- | ---- | ---- | --------------- | ------------------ | ------------- |',
    ...rows.map(
      r =>
        `| ${r.workers} | ${r.kernels} | ${r.count} | ${r.seconds.toFixed(1)} s | ${r.perMinute.toFixed(1)} | ${(r.perMinute / base).toFixed(2)}× | ${r.failed} |`
    )
  ].join('\n');
  console.log(`\n${table}`);
  if (writeReadme) {
    writeReadmeSection('workers', table);
  }
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
