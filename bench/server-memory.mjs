// The Cellflow server's cold start and resident memory: idle on its embedded store, and at the peak of
// 10 concurrent runs (each on its own kernel). Rewrites its table in bench/README.md.
//
//   npm run build:server && node bench/server-memory.mjs [--rounds 3]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { startServer } from './cellflow-server.mjs';
import { machine, summary, writeReadmeSection } from './lib.mjs';
import { peakRss, sleep, treeRss } from './peers/procs.mjs';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' } }
});
const ROUNDS = Number(values.rounds);
const CONCURRENT = 10;
const MB = bytes => `${Math.round(bytes / 2 ** 20)} MB`;

/** A one-task flow that holds its kernel for a few seconds, so the runs overlap. */
const sleeper = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {
    kernelspec: {
      name: 'python3',
      display_name: 'Python 3',
      language: 'python'
    }
  },
  cells: [
    {
      cell_type: 'code',
      id: 'hold',
      metadata: {},
      source: '%%task hold\nimport time\ntime.sleep(4)',
      outputs: [],
      execution_count: null
    }
  ]
};

const starts = [];
const idleServer = [];
const peakAll = [];
const peakServer = [];
for (let round = 0; round < ROUNDS; round++) {
  const server = await startServer([
    '--max-concurrent-runs',
    String(CONCURRENT)
  ]);
  try {
    starts.push(server.startMs);
    await sleep(3000);
    idleServer.push(serverOnlyRss(server.pid));
    const { flow } = await server.api('POST', '/api/flows', {
      name: 'sleeper',
      notebook: sleeper
    });
    const serverPeak = { value: 0 };
    const sampler = setInterval(() => {
      // The server process alone: its own memory while it drives 10 kernels.
      serverPeak.value = Math.max(serverPeak.value, serverOnlyRss(server.pid));
    }, 50);
    const all = peakRss(server.pid);
    const runs = [];
    for (let i = 0; i < CONCURRENT; i++) {
      runs.push(
        (await server.api('POST', `/api/flows/${flow.id}/runs`, {})).run.id
      );
    }
    for (const id of runs) {
      for (;;) {
        const { run } = await server.api('GET', `/api/runs/${id}`);
        if (
          ['Completed', 'Failed', 'Crashed', 'Cancelled'].includes(run.state)
        ) {
          break;
        }
        await sleep(250);
      }
    }
    peakAll.push(all.stop());
    clearInterval(sampler);
    peakServer.push(serverPeak.value);
  } finally {
    await server.close();
  }
}

/** Resident memory of the server process alone: its tree minus what its children (kernels) hold. */
function serverOnlyRss(pid) {
  let children = [];
  try {
    // Direct children, listed by Linux.
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    // no children file: count none
  }
  return (
    treeRss(pid) - children.reduce((sum, child) => sum + treeRss(child), 0)
  );
}

const s = list => summary(list);
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; ${ROUNDS} rounds, a fresh data directory each (embedded PGlite store).`,
  `Command: \`npm run build:server && node bench/server-memory.mjs --rounds ${ROUNDS}\``,
  '',
  '| Figure | median | max |',
  '| --- | --- | --- |',
  `| Cold start: process spawned → listening (store created, migrations applied) | ${Math.round(s(starts).median)} ms | ${Math.round(s(starts).max)} ms |`,
  `| Resident memory idle, the server process | ${MB(s(idleServer).median)} | ${MB(s(idleServer).max)} |`,
  `| Peak resident memory, ${CONCURRENT} concurrent runs: the server process alone | ${MB(s(peakServer).median)} | ${MB(s(peakServer).max)} |`,
  `| Peak resident memory, ${CONCURRENT} concurrent runs: server and its ${CONCURRENT} kernels | ${MB(s(peakAll).median)} | ${MB(s(peakAll).max)} |`
].join('\n');
writeReadmeSection('server-memory', table);
console.log(table);
