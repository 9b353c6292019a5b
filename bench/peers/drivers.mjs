// Runs one of the peers' Python drivers (bench/peers/*_workloads.py) in the peers' environment and
// measures its memory at the moments it announces (see phases.py): idle, and the peak during the ETL.
import { join } from 'node:path';

import { BENCH_DIR, PEERS_VENV } from '../lib.mjs';
import { peakRss, sleep, start, treeRss } from './procs.mjs';

const PEERS_DIR = join(BENCH_DIR, 'peers');
export const PYTHON = join(PEERS_VENV, 'bin', 'python');

/** Idle memory: a few samples after the process has settled, the largest one. */
export async function idleRss(pid, settleMs = 2000) {
  await sleep(settleMs);
  let most = 0;
  for (let i = 0; i < 5; i++) {
    most = Math.max(most, treeRss(pid));
    await sleep(100);
  }
  return most;
}

/** Returns {result, idleRss, etlPeakRss}: the driver's figures and its process tree's memory. */
export async function runDriver(script, args, { env, logFile }) {
  let result;
  let idle = NaN;
  let peak;
  let etlPeak = NaN;
  const waits = [];
  const proc = start(PYTHON, [join(PEERS_DIR, script), ...args], {
    env,
    cwd: PEERS_DIR,
    logFile,
    onLine: line => {
      if (!line.startsWith('{')) {
        return;
      }
      const message = JSON.parse(line);
      if (message.phase === 'idle') {
        waits.push(
          idleRss(proc.child.pid).then(value => {
            idle = value;
            proc.child.stdin.write('go\n');
          })
        );
      } else if (message.phase === 'etl-start') {
        peak = peakRss(proc.child.pid);
      } else if (message.phase === 'etl-end') {
        etlPeak = peak.stop();
      } else if (message.result) {
        result = message.result;
      }
    }
  });
  await proc.exited;
  await Promise.all(waits);
  if (!result) {
    throw new Error(`${script} printed no result; see ${logFile}`);
  }
  return { result, idleRss: idle, etlPeakRss: etlPeak };
}
