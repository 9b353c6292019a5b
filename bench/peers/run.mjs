// One run of every workload on every system, one system at a time (so none slows another), the same
// inputs for each. Returns the raw figures; report.mjs turns them into the README table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT, ensurePeersVenv, noopNotebook } from '../lib.mjs';
import { perTaskMs, runMs, startCellflow, taskSpanMs } from './cellflow.mjs';
import { PYTHON, idleRss, runDriver } from './drivers.mjs';
import { etlNotebook, retryNotebook, withoutTaskMagic } from './notebooks.mjs';
import { freePort, peakRss, start, stop } from './procs.mjs';
import {
  cellflowSchedule,
  jupyterSchedulerSchedule,
  prefectSchedule
} from './schedules.mjs';

/** The tutorial's users API (examples/users-api) on a loopback port, for workload 2. */
async function startUsersApi(workDir) {
  const port = await freePort();
  const proc = start(
    PYTHON,
    [
      join(ROOT, 'examples', 'users-api', 'server.py'),
      '--host',
      '127.0.0.1',
      '--port',
      String(port)
    ],
    { logFile: join(workDir, 'users-api.log') }
  );
  const url = `http://127.0.0.1:${port}/users`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(url)).ok) {
        return { url, close: () => stop(proc) };
      }
    } catch (error) {
      if (i > 300) {
        throw new Error(`the users API did not start: ${error.message}`);
      }
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

/** The kernel's own no-op round trip (execute `pass`, reply + idle), on the peers' Python. */
async function kernelRoundTrips(count) {
  // The built server (npm run build:server), loaded only here so `--dry-run` needs no build.
  const { startKernel } =
    await import('../../server/lib/server/src/executor/index.js');
  const kernel = await startKernel({ python: PYTHON });
  try {
    for (let i = 0; i < 20; i++) {
      await kernel.execute('pass');
    }
    const times = [];
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await kernel.execute('pass');
      times.push(performance.now() - t);
    }
    return times;
  } finally {
    await kernel.shutdown();
  }
}

async function cellflowWorkloads({
  workDir,
  rounds,
  tasks,
  usersUrl,
  schedules,
  intervalSeconds,
  log
}) {
  const cf = await startCellflow(workDir);
  try {
    const noop = await cf.deploy('noop', noopNotebook(tasks));
    const etl = await cf.deploy('etl', etlNotebook());
    const retry = await cf.deploy('retry', retryNotebook());
    const idle = await idleRss(cf.pid);
    const etlParameters = {
      url: usersUrl,
      out_dir: join(workDir, 'cellflow-out')
    };

    const first = await cf.run(noop);
    const noopRuns = [];
    for (let i = 0; i < rounds; i++) {
      noopRuns.push(await cf.run(noop));
    }
    log('Cellflow: ETL');
    const peak = peakRss(cf.pid);
    const etlRuns = [];
    for (let i = 0; i < rounds; i++) {
      etlRuns.push(await cf.run(etl, etlParameters));
    }
    const etlPeak = peak.stop();
    log('Cellflow: retries');
    const retryRuns = [];
    for (let i = 0; i < rounds; i++) {
      retryRuns.push(await cf.run(retry));
    }
    let lateness;
    if (schedules) {
      log(`Cellflow: a 10 s interval for ${intervalSeconds} s`);
      ({ lateness } = await cellflowSchedule(cf, intervalSeconds));
    }
    return {
      first_run_ms: runMs(first),
      noop_total_ms: noopRuns.map(runMs),
      noop_per_task_ms: noopRuns.flatMap(perTaskMs),
      etl_ms: etlRuns.map(runMs),
      retry_beyond_ms: retryRuns.map(r => taskSpanMs(r.taskRuns[0]) - 2000),
      schedule_lateness_ms: lateness,
      idle_rss: idle,
      etl_peak_rss: etlPeak
    };
  } finally {
    await cf.close();
  }
}

export async function run({
  workDir,
  rounds,
  tasks,
  schedules,
  requirements,
  intervalSeconds,
  cronSeconds,
  log
}) {
  log(`peers' environment: ${requirements.join(' ')}`);
  ensurePeersVenv(requirements);
  const users = await startUsersApi(workDir);
  const results = {};
  try {
    log(`kernel round trip (${PYTHON})`);
    results.kernel_round_trip_ms = await kernelRoundTrips(200);

    log(`Cellflow: ${tasks} no-op tasks × ${rounds}`);
    results.cellflow = await cellflowWorkloads({
      workDir,
      rounds,
      tasks,
      usersUrl: users.url,
      schedules,
      intervalSeconds,
      log
    });

    log('Prefect 3: workloads 1-3, 5');
    const prefect = await runDriver(
      'prefect_workloads.py',
      [
        '--tasks',
        String(tasks),
        '--rounds',
        String(rounds),
        '--url',
        users.url,
        '--out-dir',
        join(workDir, 'prefect-out')
      ],
      {
        // Its embedded default in a fresh home; analytics off, so every byte stays on 127.0.0.1; more
        // than the default 20 s for its temporary API to start (a fresh SQLite store is migrated first,
        // and on a busy 2-CPU machine that took longer than 20 s).
        env: {
          PREFECT_HOME: join(workDir, 'prefect-home'),
          PREFECT_SERVER_ANALYTICS_ENABLED: 'false',
          PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: '120'
        },
        logFile: join(workDir, 'prefect.log')
      }
    );
    results.prefect = {
      ...prefect.result,
      idle_rss: prefect.idleRss,
      etl_peak_rss: prefect.etlPeakRss
    };

    log('papermill: workloads 1, 2, 5');
    const notebooks = join(workDir, 'papermill');
    mkdirSync(notebooks, { recursive: true });
    const noopPath = join(notebooks, 'noop.ipynb');
    const etlPath = join(notebooks, 'etl.ipynb');
    writeFileSync(
      noopPath,
      JSON.stringify(noopNotebook(tasks, { tasks: false }))
    );
    writeFileSync(etlPath, JSON.stringify(withoutTaskMagic(etlNotebook())));
    const papermill = await runDriver(
      'papermill_workloads.py',
      [
        '--noop',
        noopPath,
        '--etl',
        etlPath,
        '--rounds',
        String(rounds),
        '--url',
        users.url,
        '--out-dir',
        join(workDir, 'papermill-out'),
        '--work',
        join(notebooks, 'runs')
      ],
      { logFile: join(workDir, 'papermill.log') }
    );
    results.papermill = {
      ...papermill.result,
      idle_rss: papermill.idleRss,
      etl_peak_rss: papermill.etlPeakRss
    };

    if (schedules) {
      log(`Prefect 3: serve on a 10 s interval for ${intervalSeconds} s`);
      results.prefect.schedule_lateness_ms = (
        await prefectSchedule(workDir, intervalSeconds)
      ).lateness;
      log(`jupyter-scheduler: every-minute cron for ${cronSeconds} s`);
      const js = await jupyterSchedulerSchedule(workDir, cronSeconds);
      results.jupyter_scheduler = {
        schedule_lateness_ms: js.lateness,
        idle_rss: js.idleRss
      };
    }
  } finally {
    await users.close();
  }
  return results;
}
