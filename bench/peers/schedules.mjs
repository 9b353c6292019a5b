// Workload 4: schedules. Each system fires on its own schedule for a while; a run's start lateness is
// its first task's start minus its scheduled time. Cellflow and Prefect 3: every 10 s; jupyter-scheduler:
// every minute (its smallest cron step).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { PEERS_VENV } from '../lib.mjs';
import { latenessMs } from './cellflow.mjs';
import { PYTHON, idleRss } from './drivers.mjs';
import { stampNotebook, tickNotebook } from './notebooks.mjs';
import { freePort, sleep, start, stop } from './procs.mjs';

const readMarker = file =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map(line => JSON.parse(line))
    : [];

/** Cellflow: an interval schedule made through the API on a one-task flow. */
export async function cellflowSchedule(cellflow, seconds) {
  const flowId = await cellflow.deploy('tick', tickNotebook());
  const { schedule } = await cellflow.api(
    'POST',
    `/api/flows/${flowId}/schedules`,
    {
      kind: 'interval',
      every: 10
    }
  );
  await sleep(seconds * 1000);
  await cellflow.api('DELETE', `/api/schedules/${schedule.id}`);
  await sleep(3000); // the last run's one no-op task
  const { runs } = await cellflow.api(
    'GET',
    `/api/runs?flowId=${flowId}&limit=100`
  );
  const lateness = [];
  for (const summary of runs) {
    if (summary.scheduledAt && summary.state === 'Completed') {
      const { run } = await cellflow.api('GET', `/api/runs/${summary.id}`);
      lateness.push(latenessMs(run));
    }
  }
  return { lateness };
}

/**
 * Prefect 3: `flow.serve(interval=10)` against `prefect server start` on its default SQLite store in a
 * fresh PREFECT_HOME. (`serve` alone, on the temporary API, never fires: that API runs no scheduler.)
 */
export async function prefectSchedule(workDir, seconds) {
  const marker = join(workDir, 'prefect-serve.jsonl');
  const port = await freePort();
  const env = {
    PREFECT_HOME: join(workDir, 'prefect-serve-home'),
    PREFECT_API_URL: `http://127.0.0.1:${port}/api`,
    PEERS_MARKER: marker
  };
  const server = start(
    join(PEERS_VENV, 'bin', 'prefect'),
    [
      'server',
      'start',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--no-ui'
    ],
    { env, cwd: workDir, logFile: join(workDir, 'prefect-server.log') }
  );
  try {
    await waitForHttp(`http://127.0.0.1:${port}/api/health`);
    const serving = start(
      PYTHON,
      [new URL('./prefect_serve.py', import.meta.url).pathname],
      {
        env,
        cwd: workDir,
        logFile: join(workDir, 'prefect-serve.log')
      }
    );
    await sleep(seconds * 1000);
    await stop(serving);
  } finally {
    await stop(server);
  }
  const lateness = readMarker(marker).map(
    m => (m.started - m.scheduled) * 1000
  );
  return { lateness };
}

/** Wait until `url` answers 2xx (a server that cannot say when it is ready). */
async function waitForHttp(url, headers = {}, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url, { headers });
      if (response.ok) {
        return;
      }
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(
          `${url} did not answer in ${timeoutMs} ms: ${error.message}`
        );
      }
    }
    await sleep(100);
  }
}

/**
 * jupyter-scheduler: a JupyterLab of the peers' environment on a loopback port with a token, and a job
 * definition with an every-minute cron made through its REST API (/scheduler/job_definitions).
 */
export async function jupyterSchedulerSchedule(workDir, seconds) {
  const root = join(workDir, 'jupyter-root');
  const jupyterDirs = join(workDir, 'jupyter-home');
  mkdirSync(root, { recursive: true });
  const marker = join(workDir, 'jupyter-scheduler.jsonl');
  writeFileSync(
    join(root, 'stamp.ipynb'),
    JSON.stringify(stampNotebook(marker))
  );
  const port = await freePort();
  const token = randomBytes(24).toString('hex');
  const url = `http://127.0.0.1:${port}`;
  const proc = start(
    join(PEERS_VENV, 'bin', 'jupyter'),
    [
      'lab',
      '--no-browser',
      '--allow-root',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      `--ServerApp.root_dir=${root}`,
      `--IdentityProvider.token=${token}`
    ],
    {
      env: {
        JUPYTER_CONFIG_DIR: join(jupyterDirs, 'config'),
        JUPYTER_DATA_DIR: join(jupyterDirs, 'data'),
        JUPYTER_RUNTIME_DIR: join(jupyterDirs, 'runtime')
      },
      cwd: root,
      logFile: join(workDir, 'jupyter-scheduler.log')
    }
  );
  const call = async (method, path, body) => {
    const response = await fetch(url + path, {
      method,
      headers: {
        authorization: `token ${token}`,
        'content-type': 'application/json'
      },
      body: body ? JSON.stringify(body) : undefined
    });
    if (!response.ok) {
      throw new Error(
        `jupyter-scheduler ${method} ${path}: ${response.status} ${await response.text()}`
      );
    }
    return response.json();
  };
  try {
    await waitForHttp(`${url}/api/status`, { authorization: `token ${token}` });
    const idle = await idleRss(proc.child.pid);
    await call('POST', '/scheduler/job_definitions', {
      name: 'bench-cron',
      input_uri: 'stamp.ipynb',
      runtime_environment_name: 'python3',
      output_formats: ['ipynb'],
      schedule: '* * * * *',
      timezone: 'UTC'
    });
    await sleep(seconds * 1000);
    // The cron fires on the minute; a scheduled time is the minute a run started in.
    const lateness = readMarker(marker).map(m => (m.started % 60) * 1000);
    return { lateness, idleRss: idle };
  } finally {
    await stop(proc);
  }
}
