/**
 * A real Jupyter Enterprise Gateway (the pinned one in .venv-gateway, requirements-gateway.txt) for the
 * gateway provider's tests and benchmark: started on a free loopback port with a token, its
 * kernelspecs in a JUPYTER_PATH of its own, its kernels the local process proxy's.
 *
 * Its `python3` kernelspec starts the project's .venv Python (ipykernel 7, pandas), the same kernel a
 * local run gets, so what runs through the gateway can be compared with what runs locally.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from './lib.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
export const GATEWAY_JUPYTER = join(ROOT, '.venv-gateway', 'bin', 'jupyter');
export const KERNEL_PYTHON = join(ROOT, '.venv', 'bin', 'python');

/** kernelspecs: name -> { argv, language, displayName, env } written as `kernels/<name>/kernel.json`. */
async function writeKernelspecs(jupyterPath, kernelspecs) {
  for (const [name, spec] of Object.entries(kernelspecs)) {
    const dir = join(jupyterPath, 'kernels', name);
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'kernel.json'),
      JSON.stringify({
        argv: spec.argv,
        display_name: spec.displayName ?? name,
        language: spec.language ?? 'python',
        env: spec.env ?? {}
      })
    );
  }
}

/**
 * Starts Enterprise Gateway; resolves once `GET /api` answers with the token. Returns its url and
 * token, a `kernels()` listing (EG lists kernels only when told to: it is here), and `stop()`.
 */
export async function startEnterpriseGateway(options = {}) {
  if (!existsSync(GATEWAY_JUPYTER)) {
    throw new Error(
      `Enterprise Gateway is not installed: ${GATEWAY_JUPYTER} is missing (run bash scripts/setup.sh)`
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'cellflow-eg-'));
  const jupyterPath = join(dir, 'jupyter');
  await writeKernelspecs(jupyterPath, {
    python3: {
      argv: [
        KERNEL_PYTHON,
        '-m',
        'ipykernel_launcher',
        '-f',
        '{connection_file}'
      ],
      displayName: 'Python 3 (ipykernel)'
    },
    ...(options.kernelspecs ?? {})
  });
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const url = `http://127.0.0.1:${port}/`;
  let log = '';
  const child = spawn(
    GATEWAY_JUPYTER,
    [
      'enterprisegateway',
      '--ip=127.0.0.1',
      `--port=${port}`,
      '--port_retries=0',
      `--EnterpriseGatewayApp.auth_token=${token}`,
      '--EnterpriseGatewayApp.list_kernels=True'
    ],
    {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        JUPYTER_PATH: jupyterPath,
        JUPYTER_DATA_DIR: join(dir, 'data'),
        JUPYTER_RUNTIME_DIR: join(dir, 'runtime'),
        JUPYTER_CONFIG_DIR: join(dir, 'config')
      },
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  const exited = new Promise(resolve => child.once('exit', resolve));
  // Up once it says so: "Jupyter Enterprise Gateway 3.3.0 is available at http://…".
  let timer;
  const ready = new Promise((resolve, reject) => {
    const keep = chunk => {
      log = (log + chunk).slice(-20_000);
      if (log.includes(`is available at ${url.slice(0, -1)}`)) {
        resolve();
      }
    };
    child.stdout.setEncoding('utf8').on('data', keep);
    child.stderr.setEncoding('utf8').on('data', keep);
    void exited.then(() =>
      reject(new Error(`Enterprise Gateway exited at start:\n${log}`))
    );
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`Enterprise Gateway did not start within 60 s:\n${log}`)
      );
    }, 60_000);
  });
  try {
    await ready;
  } finally {
    clearTimeout(timer);
  }
  const headers = { Authorization: `token ${token}` };

  return {
    url,
    token,
    get log() {
      return log;
    },
    /** The kernels the gateway has now (GET /api/kernels). */
    async kernels() {
      const response = await fetch(`${url}api/kernels`, { headers });
      if (!response.ok) {
        throw new Error(`GET /api/kernels answered ${response.status}`);
      }
      return response.json();
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const late = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(late);
      }
      await rm(dir, { recursive: true, force: true });
    }
  };
}
