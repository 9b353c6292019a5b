/**
 * Workspaces are a security boundary: a probe notebook, deployed and run through the API of a real
 * server by workspace "beta", tries to reach what notebook code must never reach (the admin socket, the
 * data dir's files, the login profile, the server's /proc entries and environment, workspace alpha's
 * folder and files), while it does its own work (a CSV in its folder, its parameters, pandas).
 * Sandboxed (the default) every reach fails; the same probe with `--isolation none` succeeds at several,
 * so this test fails when the sandbox does.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startCellflowServer, type CellflowServer } from '../src/start.js';
import { notebook, python } from './runs-helpers.js';
import { apiRequest } from './support/http.js';

// Outside /tmp on purpose: the sandbox's /tmp is private anyway, which would hide a data dir there
// for the wrong reason.
const BASE = '/var/tmp';
const SENTINEL = `probe-sentinel-${process.pid}-${Date.now()}`;

const PROBE = `import json, os, socket, pandas
reached = {}
def attempt(name, fn):
    try:
        got = fn()
        reached[name] = bool(got)
    except Exception:
        reached[name] = False

def admin_socket():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(os.path.join(data_dir, "cellflow-admin.sock"))
    body = json.dumps({"workspace": "alpha", "name": "stolen"})
    s.sendall(("POST /admin/keys HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/json\\r\\n"
               "Content-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s" % (len(body), body)).encode())
    answer = s.recv(65536).decode(errors="replace")
    return " 201 " in answer.split("\\r\\n")[0] + " "

own_dir = os.getcwd()
def mine(path):
    return path == own_dir or path.startswith(own_dir + os.sep)
def leads_to_mine(path):
    return own_dir.startswith(path.rstrip(os.sep) + os.sep)

def data_dir_files():
    # Anything but the folders that lead to its own working folder.
    seen = []
    for root, dirs, files in os.walk(data_dir):
        for n in dirs + files:
            p = os.path.join(root, n)
            if not mine(p) and not leads_to_mine(p):
                seen.append(p)
    return seen

def read_any_data_file():
    for root, dirs, files in os.walk(data_dir):
        for f in files:
            p = os.path.join(root, f)
            if mine(p):
                continue
            with open(p, "rb") as fh:
                if fh.read(16):
                    return True
    return False

attempt("admin socket", admin_socket)
attempt("data dir listing", data_dir_files)
attempt("data dir files", read_any_data_file)
attempt("secrets key", lambda: open(os.path.join(data_dir, "secrets.key"), "rb").read())
attempt("profile", lambda: open(os.path.join(config_dir, "profile.json")).read())
attempt("server environ", lambda: open("/proc/%d/environ" % server_pid, "rb").read())
attempt("server cmdline", lambda: open("/proc/%d/cmdline" % server_pid, "rb").read())
attempt("server processes", lambda: os.path.exists("/proc/%d" % server_pid))
attempt("server variables", lambda: [k for k in os.environ if k.startswith("CELLFLOW_") or k == "DATABASE_URL" or "${SENTINEL}" in os.environ[k]])
attempt("alpha folder", lambda: os.listdir(alpha_dir))
attempt("alpha file", lambda: open(os.path.join(alpha_dir, "alpha.csv")).read())
attempt("home folder", lambda: [n for n in os.listdir(os.path.expanduser("~root")) if n not in (".pyenv",)])

# Its own work: a CSV in its own folder, its parameters, pandas.
pandas.DataFrame({"x": [1, 2]}).to_csv("beta.csv", index=False)
own = {"csv": os.path.exists("beta.csv"), "label": label, "pandas": pandas.__version__ != ""}
print("PROBE " + json.dumps({"reached": reached, "own": own}))`;

const dirs: string[] = [];
const servers: CellflowServer[] = [];

afterAll(async () => {
  await Promise.all(servers.map(s => s.close()));
  delete process.env.CELLFLOW_PROBE_SENTINEL;
  await Promise.all(dirs.map(d => rm(d, { recursive: true, force: true })));
});

beforeAll(() => {
  // A variable of the server's own environment, as DATABASE_URL would be: no kernel may see it.
  process.env.CELLFLOW_PROBE_SENTINEL = SENTINEL;
});

interface ProbeWorld {
  server: CellflowServer;
  dataDir: string;
  configDir: string;
  alphaDir: string;
  beta: string;
}

async function world(isolation: 'sandbox' | 'none'): Promise<ProbeWorld> {
  const base = await mkdtemp(join(BASE, 'cellflow-probe-'));
  dirs.push(base);
  const dataDir = join(base, 'data');
  const configDir = join(base, 'config');
  await mkdir(configDir, { recursive: true });
  await writeFile(
    join(configDir, 'profile.json'),
    JSON.stringify({ url: 'http://127.0.0.1:1', key: 'cf_not_for_kernels' }),
    { mode: 0o600 }
  );
  const server = await startCellflowServer({
    dataDir,
    port: 0,
    kernelPython: python,
    isolation,
    warmKernels: 0,
    env: { CELLFLOW_CONFIG_DIR: configDir },
    onNotice: () => undefined
  });
  servers.push(server);
  const alpha = await keyFor(server, 'alpha');
  const beta = await keyFor(server, 'beta');

  // Alpha runs a flow that leaves a file in its folder.
  const alphaFlow = await deployAndRun(
    server,
    alpha,
    'alpha-flow',
    notebook([
      '%%task write\nopen("alpha.csv", "w").write("alpha,private\\n")'
    ]),
    {}
  );
  expect(alphaFlow.state).toBe('Completed');
  const alphaDir = join(dataDir, 'flows', alphaFlow.flowId);
  expect(readFileSync(join(alphaDir, 'alpha.csv'), 'utf8')).toContain(
    'private'
  );
  return { server, dataDir, configDir, alphaDir, beta };
}

async function keyFor(server: CellflowServer, name: string): Promise<string> {
  const ws = await server.store.ensureWorkspace(name);
  return (await server.store.createApiKey(ws.id, 'probe')).secret;
}

async function deployAndRun(
  server: CellflowServer,
  key: string,
  name: string,
  nb: unknown,
  parameters: Record<string, unknown>
): Promise<{ flowId: string; runId: string; state: string }> {
  const deployed = await apiRequest(server.address, key, 'POST', '/api/flows', {
    name,
    notebook: nb
  });
  expect(deployed.status).toBe(201);
  const flowId: string = deployed.body.flow.id;
  const started = await apiRequest(
    server.address,
    key,
    'POST',
    `/api/flows/${flowId}/runs`,
    { parameters }
  );
  expect(started.status).toBe(201);
  const runId: string = started.body.run.id;
  const state = await ended(server, runId);
  return { flowId, runId, state };
}

/** Waits for the run's end on the server's own event signal (no polling loop). */
async function ended(server: CellflowServer, runId: string): Promise<string> {
  const run = await server.store.getRunById(runId);
  const done = ['Completed', 'Failed', 'Crashed', 'Cancelled'];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`run ${runId} did not end`)),
      60_000
    );
    const check = async () => {
      const now = await server.store.getRunById(runId);
      if (now && done.includes(now.state)) {
        clearTimeout(timer);
        unsubscribe();
        resolve(now.state);
      }
    };
    const unsubscribe = server.hub.subscribe(run!.workspaceId, () => {
      void check();
    });
    void check();
  });
}

interface ProbeResult {
  reached: Record<string, boolean>;
  own: { csv: boolean; label: string; pandas: boolean };
}

async function probe(w: ProbeWorld): Promise<ProbeResult> {
  const nb = notebook([
    {
      source: `label = "default"\ndata_dir = ""\nconfig_dir = ""\nalpha_dir = ""\nserver_pid = 0`,
      tags: ['parameters']
    },
    `%%task probe\n${PROBE}`
  ]);
  const run = await deployAndRun(w.server, w.beta, 'probe', nb, {
    label: 'from beta',
    data_dir: w.dataDir,
    config_dir: w.configDir,
    alpha_dir: w.alphaDir,
    server_pid: process.pid
  });
  const logs = await apiRequest(
    w.server.address,
    w.beta,
    'GET',
    `/api/runs/${run.runId}/logs`
  );
  const lines: { text: string }[] = logs.body.lines;
  const line = lines.map(l => l.text).find(t => t.startsWith('PROBE '));
  expect(
    line,
    `the probe printed nothing; run ${run.state}: ${JSON.stringify(lines)}`
  ).toBeDefined();
  expect(run.state).toBe('Completed');
  // Its own CSV is in its own folder, on the host.
  expect(existsSync(join(w.dataDir, 'flows', run.flowId, 'beta.csv'))).toBe(
    true
  );
  return JSON.parse(line!.slice('PROBE '.length)) as ProbeResult;
}

describe('notebook code of one workspace', () => {
  it('reaches nothing of the server or of another workspace in the sandbox, and does its own work', async () => {
    const w = await world('sandbox');
    expect(w.server.isolation.mode).toBe('sandbox');
    const result = await probe(w);
    expect(result.own).toEqual({ csv: true, label: 'from beta', pandas: true });
    expect(Object.entries(result.reached).filter(([, got]) => got)).toEqual([]);
    expect(Object.keys(result.reached)).toHaveLength(12);
    // And alpha got no key from beta's code.
    const alpha = await w.server.store.ensureWorkspace('alpha');
    const keys = await w.server.store.listApiKeys(alpha.id);
    expect(keys.map(k => k.name)).toEqual(['probe']);
  });

  it('reaches them with --isolation none, so the test above can fail', async () => {
    const w = await world('none');
    const result = await probe(w);
    expect(result.own).toEqual({ csv: true, label: 'from beta', pandas: true });
    expect(result.reached).toMatchObject({
      'admin socket': true,
      'data dir listing': true,
      'data dir files': true,
      'secrets key': true,
      profile: true,
      'server environ': true,
      'server cmdline': true,
      'server processes': true,
      'alpha folder': true,
      'alpha file': true
    });
    // The environment is the kernel's own even without the sandbox.
    expect(result.reached['server variables']).toBe(false);
    const alpha = await w.server.store.ensureWorkspace('alpha');
    const keys = await w.server.store.listApiKeys(alpha.id);
    expect(keys.map(k => k.name).sort()).toEqual(['probe', 'stolen']);
  });
});
