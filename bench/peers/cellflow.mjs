// Cellflow for the peers benchmark: its own server (`cellflow server`, embedded PGlite store in a
// fresh data directory), an API key from `cellflow keys create`, and flows deployed and run through
// the HTTP API, as a user does. Kernels come from the peers' environment, so Cellflow and papermill
// run the very same Python and ipykernel.
import { join } from 'node:path';

import { apiClient, createKey } from '../cellflow-server.mjs';
import { PEERS_VENV, ROOT } from '../lib.mjs';
import { sleep, start, stop, waitForLine } from './procs.mjs';

const CLI = join(ROOT, 'server', 'bin', 'cellflow.js');
const ENDED = new Set(['Completed', 'Failed', 'Crashed', 'Cancelled']);
const time = iso => Date.parse(iso);

export async function startCellflow(workDir) {
  const dataDir = join(workDir, 'cellflow-data');
  const env = { VIRTUAL_ENV: PEERS_VENV };
  const proc = start(
    process.execPath,
    [
      CLI,
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--data-dir',
      dataDir
    ],
    { env, logFile: join(workDir, 'cellflow-server.log') }
  );
  const [, url] = await waitForLine(proc, /listening on (http\S+)/);
  const api = apiClient(url, createKey(dataDir, { ...process.env, ...env }));

  /** Deploy a notebook; returns the flow's id. */
  async function deploy(name, notebook) {
    return (await api('POST', '/api/flows', { name, notebook })).flow.id;
  }

  /** Start a run and wait until it ends; returns the run with its task runs. */
  async function run(flowId, parameters = {}) {
    const { run: created } = await api('POST', `/api/flows/${flowId}/runs`, {
      parameters
    });
    for (;;) {
      // The figures come from the server's own timestamps, so this poll's pace does not show in them.
      await sleep(50);
      const { run } = await api('GET', `/api/runs/${created.id}`);
      if (ENDED.has(run.state)) {
        if (run.state !== 'Completed') {
          throw new Error(
            `Cellflow run ${run.id} ended ${run.state}: ${run.error}`
          );
        }
        return run;
      }
    }
  }

  return {
    url,
    pid: proc.child.pid,
    api,
    deploy,
    run,
    close: () => stop(proc)
  };
}

/** A whole run, from the API request that created it to its end (kernel start included). */
export const runMs = run => time(run.endedAt) - time(run.createdAt);

/** Per task on the run's warm kernel: the times between consecutive task starts (1 ms steps). */
export function perTaskMs(run) {
  const starts = run.taskRuns.map(t => time(t.startedAt)).sort((a, b) => a - b);
  return starts.slice(1).map((start, i) => start - starts[i]);
}

/** A task's time from its first attempt's start to its last attempt's end. */
export function taskSpanMs(taskRun) {
  const attempts = [...taskRun.attempts].sort((a, b) => a.attempt - b.attempt);
  return (
    time(attempts[attempts.length - 1].endedAt) - time(attempts[0].startedAt)
  );
}

/** Start lateness of a scheduled run: its first task's start minus its scheduled time. */
export function latenessMs(run) {
  const first = Math.min(...run.taskRuns.map(t => time(t.startedAt)));
  return first - time(run.scheduledAt);
}
