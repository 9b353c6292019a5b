// Chip latency: the time from a task's state change on the Cellflow server (the `at` of its
// task_run.state event) to the task cell's chip showing that state in Chromium. A real `cellflow
// server`, a real `jupyter lab` from .venv with the extension (its proxy carries the event stream to
// the page), Debian's chromium driven by playwright-core. Rewrites its table in bench/README.md.
//
//   npm run build:server && node bench/chip-latency.mjs [--tasks 20] [--runs 8] [--warmup 1]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { ENDED_RUN, startServer } from './cellflow-server.mjs';
import {
  freePort,
  machine,
  ms,
  noopNotebook,
  ROOT,
  summary,
  writeReadmeSection
} from './lib.mjs';

const { chromium } = createRequire(join(ROOT, 'ui-tests', 'package.json'))(
  'playwright-core'
);

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '20' },
    runs: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '1' }
  }
});
const TASKS = Number(values.tasks);
const RUNS = Number(values.runs);
// The first run pays for the page's first run view and kernel spawn; it is left out.
const WARMUP = Number(values.warmup);
// States a chip takes only from its own task's events (Pending/Scheduled also come from the run's).
const MEASURED = new Set(['Running', 'Completed']);
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
];

/** `jupyter lab` from .venv with a token, its own root dir and its own Cellflow profile folder. */
async function startLab() {
  const dir = mkdtempSync(join(tmpdir(), 'cellflow-bench-lab-'));
  const rootDir = join(dir, 'root');
  const configDir = join(dir, 'config');
  mkdirSync(rootDir);
  mkdirSync(configDir);
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const bin = join(ROOT, '.venv', 'bin');
  const proc = spawn(
    join(bin, 'jupyter'),
    [
      'lab',
      '--no-browser',
      '--allow-root',
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.root_dir=${rootDir}`,
      `--IdentityProvider.token=${token}`
    ],
    {
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        CELLFLOW_CONFIG_DIR: configDir,
        JUPYTER_CONFIG_DIR: join(dir, 'jupyter-config')
      },
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  let log = '';
  await new Promise((resolve, reject) => {
    const onData = chunk => {
      log += chunk;
      if (log.includes(`127.0.0.1:${port}/`)) {
        resolve();
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', code =>
      reject(new Error(`jupyter lab exited (${code}) at start: ${log}`))
    );
  });
  // Keep draining its output so a full pipe never blocks it.
  proc.stdout.resume();
  proc.stderr.resume();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    token,
    rootDir,
    async close() {
      if (proc.exitCode === null) {
        const exited = new Promise(resolve => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Everything the server says about the workspace, kept, with waiters for what is to come. */
function collect(server) {
  const events = [];
  const waiters = [];
  const done = server.events(null, event => {
    // When a client of the server's own stream (no lab in between) has it: the server's share.
    event.receivedAt = Date.now();
    events.push(event);
    for (const waiter of [...waiters]) {
      if (waiter.test(event)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
    return false;
  });
  let closing = false;
  done.catch(error => {
    // The server stopping ends the stream; before that, a lost stream spoils the figures.
    if (!closing) {
      console.error(error);
      process.exitCode = 1;
    }
  });
  return {
    events,
    close: () => (closing = true),
    waitFor(test) {
      const found = events.find(test);
      return found
        ? Promise.resolve(found)
        : new Promise(resolve => waiters.push({ test, resolve }));
    }
  };
}

/** In the page: each chip's data-state change, with the time the DOM changed and the next frame. */
function observeChips() {
  window.__chipRecords = [];
  const observer = new MutationObserver(records => {
    const now = Date.now();
    const batch = [];
    records.forEach((record, i) => {
      const chip = record.target;
      if (!(chip instanceof Element) || !chip.matches('.jp-CellflowChip')) {
        return;
      }
      // Several changes of one chip in one batch: a record's new value is the next one's old value.
      const later = records
        .slice(i + 1)
        .find(r => r.target === chip && r.attributeName === 'data-state');
      const state = later ? later.oldValue : chip.getAttribute('data-state');
      const task = chip
        .querySelector('.jp-CellflowChip-name')
        ?.textContent?.trim();
      batch.push({ task, state, dom: now, frame: null });
    });
    window.__chipRecords.push(...batch);
    requestAnimationFrame(() => {
      const frame = Date.now();
      for (const entry of batch) {
        entry.frame = frame;
      }
    });
  });
  observer.observe(document.body, {
    subtree: true,
    attributes: true,
    attributeFilter: ['data-state'],
    attributeOldValue: true
  });
}

const server = await startServer();
const lab = await startLab();
const browser = await chromium.launch({
  executablePath: process.env.CELLFLOW_CHROMIUM || '/usr/bin/chromium',
  args: CHROMIUM_FLAGS
});
const stream = collect(server);
try {
  // Log the lab in to the Cellflow server (token auth: no XSRF cookie needed from Node).
  const session = await fetch(`${lab.url}/cellflow/session`, {
    method: 'POST',
    headers: {
      authorization: `token ${lab.token}`,
      'content-type': 'application/json'
    },
    body: JSON.stringify({ url: server.url, key: server.key })
  });
  if (!session.ok) {
    throw new Error(
      `POST /cellflow/session: ${session.status} ${await session.text()}`
    );
  }
  writeFileSync(
    join(lab.rootDir, 'chips.ipynb'),
    JSON.stringify(noopNotebook(TASKS))
  );

  const page = await browser.newPage();
  await page.goto(`${lab.url}/lab/tree/chips.ipynb?token=${lab.token}`);
  const chips = page.locator('.jp-Notebook .jp-CellflowChip');
  await page.waitForFunction(
    n =>
      document.querySelectorAll('.jp-Notebook .jp-CellflowChip').length === n,
    TASKS,
    { timeout: 120_000 }
  );
  // Deploy from the panel, as a user does.
  await page
    .locator(
      '.lm-TabBar.jp-SideBar .lm-TabBar-content li.lm-TabBar-tab[data-id="cellflow-panel"]'
    )
    .click();
  const panel = page.locator('#cellflow-panel');
  await panel
    .getByRole('button', { name: 'Deploy', exact: true })
    .click({ timeout: 60_000 });
  const deployed = await stream.waitFor(e => e.type === 'flow.deployed');
  const flowId = deployed.flowId;
  await page.evaluate(observeChips);

  const latency = [];
  const toFrame = [];
  const direct = [];
  const perState = new Map();
  let missing = 0;
  for (let round = 0; round < WARMUP + RUNS; round++) {
    await page.evaluate(() => (window.__chipRecords.length = 0));
    const { run } = await server.api('POST', `/api/flows/${flowId}/runs`, {});
    await stream.waitFor(
      e =>
        e.type === 'flow_run.state' &&
        e.flowRunId === run.id &&
        ENDED_RUN.has(e.payload.to)
    );
    // The server is done; wait for the page to show every task's end too.
    await page.waitForFunction(
      n =>
        document.querySelectorAll(
          '.jp-Notebook .jp-CellflowChip[data-state="Completed"]'
        ).length === n,
      TASKS,
      { timeout: 30_000 }
    );
    // Let the last batch's animation frame stamp its entries.
    await page.evaluate(() => new Promise(r => requestAnimationFrame(r)));
    const records = await page.evaluate(() => window.__chipRecords);
    if (round < WARMUP) {
      continue;
    }
    for (const event of stream.events) {
      if (
        event.type !== 'task_run.state' ||
        event.flowRunId !== run.id ||
        !MEASURED.has(event.payload.to)
      ) {
        continue;
      }
      const seen = records.find(
        r => r.task === event.payload.taskName && r.state === event.payload.to
      );
      if (!seen) {
        // Overwritten before the page rendered it (a no-op task's Running and Completed can reach
        // the page in one batch of events): counted, not measured.
        missing++;
        continue;
      }
      const at = Date.parse(event.at);
      latency.push(seen.dom - at);
      toFrame.push(seen.frame - at);
      direct.push(event.receivedAt - at);
      const list = perState.get(event.payload.to) ?? [];
      list.push(seen.dom - at);
      perState.set(event.payload.to, list);
    }
    console.log(`run ${round + 1 - WARMUP}/${RUNS}: ${latency.length} samples`);
  }
  await chips.first().waitFor();

  const row = (label, values) => {
    const s = summary(values);
    return `| ${label} | ${s.n} | ${ms(s.median)} | ${ms(s.p99)} | ${ms(s.max)} |`;
  };
  const table = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; ${RUNS} runs (after ${WARMUP} warm-up) of a ` +
      `${TASKS}-task no-op notebook, each started by the API while the notebook is open in headless Chromium ` +
      '(Debian chromium, playwright-core), JupyterLab 4.6 from .venv, embedded store.',
    'Command: `npm run build:server && node bench/chip-latency.mjs' +
      ` --tasks ${TASKS} --runs ${RUNS} --warmup ${WARMUP}\``,
    '',
    '| Server state change (event `at`) → chip | Samples | p50 | p99 | max |',
    '|---|---|---|---|---|',
    row("**chip's `data-state` set (MutationObserver)**", latency),
    ...[...perState].map(([state, values]) =>
      row(`… of which ${state}`, values)
    ),
    row('next animation frame after it', toFrame),
    row(
      'for comparison: a Node client of `/api/events` (no lab) has it',
      direct
    ),
    '',
    `Task state changes never shown on the chip (overwritten before the page rendered them): ${missing}.`
  ].join('\n');
  console.log(table);
  writeReadmeSection('chip-latency', table);
} finally {
  stream.close();
  await browser.close();
  await lab.close();
  await server.close();
}
