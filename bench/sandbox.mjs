// The kernel sandbox's cost (issue: workspaces are a security boundary): kernel start, spawn to ready,
// in the bubblewrap sandbox and as a plain child process (`--isolation none`), alternated round by
// round; then the start lateness of scheduled runs on a server of each mode, one after the other.
// Both modes are measured in one run. Rewrites its table in bench/README.md.
//
//   npm run build:server && node bench/sandbox.mjs [--rounds 20] [--runs 40]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { startKernel } from '../server/lib/server/src/executor/index.js';
import { bwrapArguments } from '../server/lib/server/src/executor/sandbox.js';
import { resolveIsolation } from '../server/lib/server/src/runs/isolation.js';
import { startServer } from './cellflow-server.mjs';
import { measure } from './lateness.mjs';
import { ROOT, machine, ms, quantile, writeReadmeSection } from './lib.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    runs: { type: 'string', default: '40' }
  }
});
const ROUNDS = Number(values.rounds);
const RUNS = Number(values.runs);
const WARMUP = 3;
// Outside /tmp, as a real data dir is (~/.local/share/cellflow): the sandbox hides it behind a tmpfs,
// and the run's folder inside it is mounted back, so every mount a server makes is made here too.
const PARENT = '/var/tmp';
const PYTHON = join(ROOT, '.venv', 'bin', 'python');

const stats = values => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1]
  };
};
const signed = value => `${value >= 0 ? '+' : '−'}${ms(Math.abs(value))}`;
const load = () =>
  loadavg()
    .map(l => l.toFixed(2))
    .join(', ');

// ---- 1. Kernel start, spawn to ready, alternating the modes -------------------------------------

const dataDir = mkdtempSync(join(PARENT, 'cellflow-bench-sandbox-'));
const kernelsDir = join(dataDir, 'kernels');
// Where a flow's runs work: a folder of the data dir, as the server makes them (<dataDir>/flows/<id>).
const cwd = join(dataDir, 'flows', 'bench');
mkdirSync(cwd, { recursive: true });
const isolation = resolveIsolation({
  mode: 'sandbox',
  python: PYTHON,
  dataDir
});
const MODES = {
  sandbox: { python: PYTHON, cwd, kernelsDir, sandbox: isolation.sandbox },
  none: { python: PYTHON, cwd, kernelsDir }
};

/** Starts a kernel of this mode: the time from startKernel() to the kernel ready, then stops it. */
async function kernelStart(mode, check = false) {
  const startedAt = performance.now();
  const kernel = await startKernel(MODES[mode]);
  const elapsed = performance.now() - startedAt;
  let seen;
  if (check) {
    // What the kernel sees: its pid (1-few in the sandbox's PID namespace) and the data dir's entries.
    let text = '';
    await kernel.execute(
      `import os; print(os.getpid(), len(os.listdir(${JSON.stringify(dataDir)})))`,
      {
        onOutput: output => {
          text += output.text ?? '';
        }
      }
    );
    seen = text.trim();
  }
  await kernel.shutdown();
  return { elapsed, seen };
}

/** bwrap with the mounts of a kernel's sandbox running /bin/true, against /bin/true alone: the setup. */
function spawnTrue(mode) {
  const kernelDir = mkdtempSync(join(kernelsDir, 'setup-'));
  const [file, ...args] =
    mode === 'sandbox'
      ? [
          isolation.sandbox.bwrap,
          ...bwrapArguments(isolation.sandbox, {
            cwd,
            kernelDir,
            command: ['/bin/true']
          })
        ]
      : ['/bin/true'];
  const startedAt = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', code => {
      const elapsed = performance.now() - startedAt;
      rmSync(kernelDir, { recursive: true, force: true });
      if (code === 0) {
        resolve(elapsed);
      } else {
        reject(new Error(`${file} exited ${code}`));
      }
    });
  });
}

console.log(`load before: ${load()}`);
const kernelMs = { sandbox: [], none: [] };
const setupMs = { sandbox: [], none: [] };
const seen = {};
try {
  // One of each first (page cache, Python's bytecode), with a look at what the kernel sees.
  for (const mode of ['sandbox', 'none']) {
    seen[mode] = (await kernelStart(mode, true)).seen;
    console.log(
      `${mode}: the kernel's pid, entries of the data dir: ${seen[mode]}`
    );
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Alternated, and in turn first, so drift and order hit both the same.
    const order = round % 2 === 0 ? ['sandbox', 'none'] : ['none', 'sandbox'];
    for (const mode of order) {
      kernelMs[mode].push((await kernelStart(mode)).elapsed);
    }
    for (const mode of order) {
      for (let i = 0; i < 5; i++) {
        setupMs[mode].push(await spawnTrue(mode));
      }
    }
    console.log(
      `round ${round + 1}/${ROUNDS}: sandbox ${ms(kernelMs.sandbox.at(-1))}, none ${ms(kernelMs.none.at(-1))}`
    );
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

// ---- 2. Start lateness of scheduled runs, a server of each mode, one after the other -------------

const lateness = {};
for (const [mode, args] of [
  ['sandbox', []],
  ['none', ['--isolation', 'none']]
]) {
  const server = await startServer(args, { parentDir: PARENT });
  try {
    if (server.isolation !== mode) {
      throw new Error(
        `the server ${args.join(' ') || '(default)'} runs kernels as "${server.isolation}", not "${mode}"`
      );
    }
    lateness[mode] = await measure(server, 'parallel', 4, {
      runs: RUNS,
      warmup: WARMUP,
      label: `${mode}, parallel`
    });
  } finally {
    await server.close();
  }
}
console.log(`load after: ${load()}`);

// ---- The table ------------------------------------------------------------------------------------

const k = { sandbox: stats(kernelMs.sandbox), none: stats(kernelMs.none) };
const s = { sandbox: stats(setupMs.sandbox), none: stats(setupMs.none) };
const l = {
  sandbox: stats(lateness.sandbox.lateness),
  none: stats(lateness.none.lateness)
};
const t = {
  sandbox: stats(lateness.sandbox.taskStart),
  none: stats(lateness.none.taskStart)
};
const COLD_MS = 200;
const pair = (x, a, b) => `${ms(x[a])} / ${ms(x[b])}`;
const diff = (x, a, b) =>
  `${signed(x.sandbox[a] - x.none[a])} / ${signed(x.sandbox[b] - x.none[b])}`;
const row = (label, x, a, b) =>
  `| ${label} | ${pair(x.sandbox, a, b)} | ${pair(x.none, a, b)} | ${diff(x, a, b)} |`;
const count = (label, f) =>
  `| ${label} | ${f(lateness.sandbox)} | ${f(lateness.none)} | |`;

const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; load average ${load()} at the end. ` +
    `Kernel starts: ${ROUNDS} rounds, each a start of each mode in turn (the first of each left out), ` +
    `the .venv Python, data dir in ${PARENT}. Schedules: a server in each mode, the sandbox's first and ` +
    `then \`--isolation none\`'s, in this one run: a 1-second interval schedule of a one-task no-op flow, ` +
    `overlap \`parallel\` (max 4), ${RUNS} runs after ${WARMUP} warm-up runs each, \`--warm-kernels\` 1 (default), embedded store.`,
  'Command: `npm run build:server && node bench/sandbox.mjs' +
    ` --rounds ${ROUNDS} --runs ${RUNS}\``,
  '',
  '| Figure | sandbox (default) | `--isolation none` | sandbox − none |',
  '|---|---|---|---|',
  row('**Kernel start, spawn → ready, median / p90**', k, 'p50', 'p90'),
  row(
    '… of which the sandbox: bwrap with its mounts running `/bin/true`, against `/bin/true`, median / p90',
    s,
    'p50',
    'p90'
  ),
  row(
    '**Scheduled start lateness: scheduled time → first task Running, p50 / p99**',
    l,
    'p50',
    'p99'
  ),
  row(
    'run Running → first task Running (the kernel part: a warm kernel taken, its folder, parameters), p50 / p99',
    t,
    'p50',
    'p99'
  ),
  count(
    'Scheduled runs measured (after warm-up) / wall time',
    r => `${r.runs} / ${r.elapsedS.toFixed(0)} s`
  ),
  count(
    `Runs whose kernel part took over ${COLD_MS} ms: no warm kernel ready, a kernel started for it (inferred: a warm one takes ~15-60 ms, a start 300 ms or more)`,
    r => String(r.taskStart.filter(v => v > COLD_MS).length)
  ),
  count(
    'Runs Late, Skipped, or ended otherwise than Completed',
    r => `${r.late}, ${r.skipped}, ${r.failed}`
  )
].join('\n');
console.log(table);
console.log(
  `kernel start max: sandbox ${ms(k.sandbox.max)}, none ${ms(k.none.max)}; kernel part max: sandbox ${ms(t.sandbox.max)}, none ${ms(t.none.max)}`
);
for (const mode of ['sandbox', 'none']) {
  const slow = lateness[mode].taskStart.filter(v => v > 100);
  console.log(
    `${mode}: kernel parts over 100 ms: ${slow.join(', ') || 'none'}`
  );
}
writeReadmeSection('sandbox', table);
