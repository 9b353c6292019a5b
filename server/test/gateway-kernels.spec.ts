/**
 * The gateway kernel provider against a real Jupyter Enterprise Gateway (3.3.0 from PyPI, in
 * .venv-gateway), whose python3 kernelspec starts the same Python as local runs: a flow run through
 * the gateway leaves the same task states, attempts, outputs and logs as one on local kernels, and a
 * timeout, a kernel death and a missing kernelspec behave as they do locally.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { compileNotebook } from '../../src/flow/compiler.js';
import { KernelGateway } from '../src/executor/gateway.js';
import { GatewayKernel } from '../src/executor/gateway-kernel.js';
import { RunService, type RunServiceOptions } from '../src/runs/service.js';
import { openPgliteStore } from '../src/store/index.js';
import type {
  FlowRun,
  FlowRunDetail,
  FlowRunState,
  Store
} from '../src/store/store.js';
// @ts-expect-error: a plain ES module of the benchmarks, shared with bench/gateway.mjs
import {
  KERNEL_PYTHON,
  startEnterpriseGateway
} from '../../bench/enterprise-gateway.mjs';
import { KernelLog, WaitingHub, notebook } from './runs-helpers.js';

interface Gateway {
  url: string;
  token: string;
  log: string;
  kernels(): Promise<{ id: string }[]>;
  stop(): Promise<void>;
}

const SECRET = 'gw-s3cret-value-42';

let gateway: Gateway;
let store: Store;
let dataDir: string;
let workspaceId: string;
const hub = new WaitingHub();
const kernels = new KernelLog();
const services: RunService[] = [];
const ends = new Map<string, (state: FlowRunState) => void>();
const ended = new Map<string, FlowRunState>();

beforeAll(async () => {
  gateway = (await startEnterpriseGateway({
    kernelspecs: {
      // A second kernelspec of the gateway: the same Python, told apart by a variable of its own.
      second: {
        argv: [
          KERNEL_PYTHON,
          '-m',
          'ipykernel_launcher',
          '-f',
          '{connection_file}'
        ],
        env: { CELLFLOW_KERNELSPEC: 'second' }
      }
    }
  })) as Gateway;
  store = await openPgliteStore();
  dataDir = await mkdtemp(join(tmpdir(), 'cellflow-gateway-'));
  workspaceId = (await store.ensureWorkspace('gateway')).id;
}, 90_000);

afterEach(async () => {
  await Promise.all(services.splice(0).map(s => s.close()));
  await kernels.killAll();
});

afterAll(async () => {
  await store?.close();
  await gateway?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function service(
  provider: 'local' | 'gateway',
  options: Partial<RunServiceOptions> = {}
): RunService {
  const s = new RunService({
    store,
    hub,
    dataDir,
    kernelPython: KERNEL_PYTHON,
    recheckMs: 60_000,
    interruptGraceMs: 3000,
    warmKernels: 0,
    // The workspace's variables, as WorkspaceSecrets gives them: they must reach either kernel.
    secrets: { envFor: async () => ({ API_TOKEN: SECRET }) },
    onKernel: kernels.add,
    onRunEnded: (run, state) => {
      ended.set(run.id, state);
      ends.get(run.id)?.(state);
    },
    ...(provider === 'gateway'
      ? {
          kernelGateway: new KernelGateway({
            url: gateway.url,
            token: gateway.token
          })
        }
      : {}),
    ...options
  });
  services.push(s);
  s.start();
  return s;
}

function endOf(run: FlowRun): Promise<FlowRunState> {
  const known = ended.get(run.id);
  if (known) {
    return Promise.resolve(known);
  }
  return new Promise(resolve => ends.set(run.id, resolve));
}

let flowCount = 0;
async function flowRun(
  nb: ReturnType<typeof notebook>,
  kernelName = 'python3'
) {
  const compiled = compileNotebook(nb);
  if (!compiled.ok) {
    throw new Error(JSON.stringify(compiled.problems));
  }
  const { flow } = await store.deployFlow({
    workspaceId,
    name: `gateway-flow-${++flowCount}`,
    spec: compiled.spec,
    notebook: nb,
    kernelName
  });
  return store.createRun({ workspaceId, flowId: flow.id, trigger: 'manual' });
}

/** Runs the notebook on a service of that provider; resolves with the ended run's detail. */
async function runOn(
  provider: 'local' | 'gateway',
  nb: ReturnType<typeof notebook>,
  options: Partial<RunServiceOptions> = {},
  kernelName?: string
): Promise<FlowRunDetail> {
  const s = service(provider, options);
  const run = await flowRun(nb, kernelName);
  s.wake();
  await endOf(run);
  const detail = await store.getRun(workspaceId, run.id);
  return detail!;
}

/** What a run left, without what differs between any two runs (ids, times, kernel pids). */
async function summary(run: FlowRunDetail) {
  const logs = await store.listLogLines(workspaceId, run.id);
  return {
    state: run.state,
    tasks: run.taskRuns.map(t => ({
      name: t.taskName,
      state: t.state,
      attempts: t.attemptList.map(a => ({
        state: a.state,
        errorName: a.errorName,
        errorValue: a.errorValue,
        outputs: a.outputs
      }))
    })),
    logs: logs.map(l => ({
      task: l.taskName,
      attempt: l.attempt,
      stream: l.stream,
      text: l.text
    }))
  };
}

const etl = notebook([
  '%%task extract\nimport os\nusers = [{"id": i, "name": f"user{i}"} for i in range(3)]\nprint("extracted", len(users))\nprint("token", os.environ["API_TOKEN"])\nlen(users)',
  '%%task transform\nimport pandas as pd\nfrom IPython.display import HTML, display\ndf = pd.DataFrame(users)\ndisplay(HTML("<b>" + ",".join(df.name) + "</b>"))\ndf',
  // Fails its first attempt only: the retry runs in the same kernel, which counts the attempts.
  '%%task flaky --retries 1 --retry-delay 0\ntries = globals().get("tries", 0) + 1\nif tries < 2:\n    raise ValueError(f"attempt {tries} fails")\nprint("attempt", tries, "passes")',
  '%%task load\nimport sys\nprint("loaded", file=sys.stderr)\ndf.shape'
]);

describe('kernels from Jupyter Enterprise Gateway', () => {
  it('runs a flow with the same task states, attempts, outputs and logs as local kernels', async () => {
    const local = await runOn('local', etl);
    const remote = await runOn('gateway', etl);
    expect(kernels.kernels.at(-1)).toBeInstanceOf(GatewayKernel);

    const expected = await summary(local);
    expect(expected.state).toBe('Completed');
    expect(
      expected.tasks.map(t => [t.name, t.state, t.attempts.length])
    ).toEqual([
      ['extract', 'Completed', 1],
      ['transform', 'Completed', 1],
      ['flaky', 'Completed', 2],
      ['load', 'Completed', 1]
    ]);
    // The workspace's secret reached the kernel, and is masked wherever the run reports it.
    expect(JSON.stringify(expected)).not.toContain(SECRET);
    expect(expected.logs.some(l => /^token \*+$/.test(l.text))).toBe(true);
    expect(await summary(remote)).toEqual(expected);

    const executed = await store.getExecutedNotebook(workspaceId, remote.id);
    const metadata = (executed as { metadata: Record<string, unknown> })
      .metadata;
    expect(metadata.language_info).toMatchObject({ name: 'python' });
  });

  it('leaves no kernel on the gateway: warm kernels and run kernels are deleted at close', async () => {
    await runOn('gateway', notebook(['%%task one\nprint(1)']), {
      warmKernels: 1
    });
    // A kernel was started ahead for the next run of this profile.
    expect((await gateway.kernels()).length).toBeGreaterThanOrEqual(1);
    await Promise.all(services.splice(0).map(s => s.close()));
    expect(await gateway.kernels()).toEqual([]);
  });

  it('interrupts a task past its timeout through the gateway, as locally', async () => {
    const nb = notebook([
      '%%task slow --timeout 1\nimport time\nprint("sleeping", flush=True)\ntime.sleep(60)',
      '%%task after\nprint("never")'
    ]);
    const local = await summary(await runOn('local', nb));
    const remote = await summary(await runOn('gateway', nb));
    expect(local.state).toBe('Failed');
    expect(local.tasks[0].attempts[0]).toMatchObject({
      state: 'Failed',
      errorName: 'TimeoutError'
    });
    expect(remote).toEqual(local);
  });

  it('ends a run whose kernel died through the gateway as a local death, and deletes the restarted kernel', async () => {
    const nb = notebook([
      // Nothing printed before: a gateway may drop the last iopub messages of a kernel that dies.
      '%%task die\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)',
      '%%task after\nprint("never")'
    ]);
    const localRun = await runOn('local', nb);
    const remoteRun = await runOn('gateway', nb);
    const local = await summary(localRun);
    const remote = await summary(remoteRun);
    expect(local.state).toBe('Crashed');
    expect(remote.state).toBe(local.state);
    expect(remote.tasks.map(t => [t.name, t.state])).toEqual(
      local.tasks.map(t => [t.name, t.state])
    );
    // The same lines, but for where the death was seen (a pid here, a gateway's kernel there).
    const died = (logs: typeof local.logs) =>
      logs.map(l => ({
        ...l,
        text: l.text.replace(/^(KernelDiedError): .*/, '$1')
      }));
    expect(died(remote.logs)).toEqual(died(local.logs));
    expect(remote.logs.at(-1)!.text).toMatch(
      /^KernelDiedError: The kernel \S+ of http:\/\/127\.0\.0\.1:\d+\/ died/
    );
    // The gateway restarts a dead kernel by itself; the run's provider deletes it.
    await hub.until('the restarted kernel to be deleted', async () =>
      (await gateway.kernels()).length === 0 ? true : null
    );
  });

  it("runs on the notebook's kernelspec of the gateway; one the gateway lacks fails naming it and the gateway's", async () => {
    const nb = notebook([
      '%%task which\nimport os\nprint(os.environ.get("CELLFLOW_KERNELSPEC"))'
    ]);
    const second = await runOn('gateway', nb, {}, 'second');
    expect(second.state).toBe('Completed');
    const logs = await store.listLogLines(workspaceId, second.id);
    expect(logs.map(l => l.text)).toEqual(['second']);

    const missing = await runOn('gateway', nb, {}, 'ir');
    expect(missing.state).toBe('Failed');
    expect(missing.stateReason).toBe('kernel not installed');
    expect(missing.error).toBe(
      `kernel 'ir' is not installed on the kernel gateway ${gateway.url} (it has: python3, second)`
    );
  });

  it('says which gateway refused and why when its token is wrong', async () => {
    const run = await runOn('gateway', notebook(['%%task one\nprint(1)']), {
      kernelGateway: new KernelGateway({ url: gateway.url, token: 'wrong' })
    });
    expect(run.state).toBe('Failed');
    expect(run.error).toContain(
      `the kernel gateway ${gateway.url} could not list its kernelspecs: 401`
    );
  });
});
