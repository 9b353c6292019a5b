/**
 * A local kernel's sandbox and environment, on real ipykernels in bubblewrap: what it sees of the
 * filesystem, the processes and the server's environment, what it may write, and (as root) a kernel
 * running as a workspace's own OS user.
 */
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { startKernel, type ZmqKernel } from '../src/executor/index.js';
import {
  bwrapArguments,
  defaultHiddenPaths,
  findBwrap,
  pythonPaths,
  type SandboxOptions
} from '../src/executor/sandbox.js';
import { killOrphanKernels } from '../src/executor/orphan-kernels.js';
import { KernelUsers, kernelUserName } from '../src/runs/kernel-users.js';
import { python } from './runs-helpers.js';

const IPYKERNEL_SETS = [
  'CLICOLOR',
  'CLICOLOR_FORCE',
  'FORCE_COLOR',
  'GIT_PAGER',
  'MPLBACKEND',
  'PAGER',
  'PYDEVD_USE_FRAME_EVAL',
  'TERM'
];

/** Running, and not a zombie waiting for a parent (in a container, init may never reap it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return (
      stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
    );
  } catch {
    return false;
  }
}

const dirs: string[] = [];
let kernel: ZmqKernel | null = null;

afterEach(async () => {
  await kernel?.shutdown();
  kernel = null;
});

afterAll(async () => {
  await Promise.all(dirs.map(d => rm(d, { recursive: true, force: true })));
});

// Outside /tmp: the sandbox's /tmp is private, which would hide things there for the wrong reason.
async function folder(name: string): Promise<string> {
  const dir = await mkdtemp(join('/var/tmp', `cellflow-sandbox-${name}-`));
  dirs.push(dir);
  return dir;
}

async function run(code: string): Promise<string> {
  let text = '';
  const reply = await kernel!.execute(code, {
    onOutput: o => {
      if (o.output_type === 'stream') {
        text += String(o.text);
      } else if (o.output_type === 'error') {
        text += `${String(o.ename)}: ${String(o.evalue)}`;
      }
    }
  });
  expect(reply.status, text).toBe('ok');
  return text.trim();
}

function sandbox(hidden: string[]): SandboxOptions {
  const found = findBwrap();
  if ('error' in found) {
    throw new Error(found.error);
  }
  return {
    bwrap: found.bwrap,
    hidden: [...defaultHiddenPaths(), ...hidden],
    pythonPaths: pythonPaths(python)
  };
}

describe('a sandboxed kernel', () => {
  it('sees the system read-only, its own processes, an empty data dir, and writes its own folder', async () => {
    const data = await folder('data');
    await writeFile(join(data, 'store.db'), 'the store');
    const cwd = await folder('run');
    process.env.CELLFLOW_SANDBOX_SENTINEL = 'server-only';
    try {
      kernel = await startKernel({
        python,
        cwd,
        env: { API_TOKEN: 'workspace-value' },
        sandbox: sandbox([data]),
        kernelsDir: join(data, 'kernels')
      });
    } finally {
      delete process.env.CELLFLOW_SANDBOX_SENTINEL;
    }
    const seen = JSON.parse(
      await run(
        [
          'import json, os',
          'def writes(path):',
          '    try:',
          '        open(path, "w").write("x"); return True',
          '    except OSError:',
          '        return False',
          'pids = [p for p in os.listdir("/proc") if p.isdigit()]',
          'print(json.dumps({',
          '  "env": sorted(os.environ),',
          '  "token": os.environ.get("API_TOKEN"),',
          '  "cwd": os.getcwd(),',
          '  "data": os.listdir(' + JSON.stringify(data) + '),',
          '  "pids": len(pids),',
          '  "own": writes("result.csv"),',
          '  "usr": writes("/usr/cellflow-test"),',
          '  "tmp": writes("/tmp/x"),',
          '  "home": os.environ["HOME"],',
          '}))'
        ].join('\n')
      )
    );
    expect(seen.token).toBe('workspace-value');
    expect(seen.env).not.toContain('CELLFLOW_SANDBOX_SENTINEL');
    expect(
      seen.env.filter(
        (n: string) =>
          ![
            'API_TOKEN',
            'HOME',
            'IPYTHONDIR',
            'PATH',
            'TMPDIR',
            'PWD'
          ].includes(n) &&
          !/^(LANG|LANGUAGE|LC_.*|TZ)$/.test(n) &&
          // Set by ipykernel itself for its own display.
          !IPYKERNEL_SETS.includes(n)
      )
    ).toEqual([]);
    expect(seen.cwd).toBe(cwd);
    // The data dir is there, empty: the kernel's own folder inside it is shown elsewhere.
    expect(seen.data).toEqual([]);
    // bwrap's init, the kernel, and maybe the shell it was started by: never the server's processes.
    expect(seen.pids).toBeLessThanOrEqual(4);
    expect(seen.own).toBe(true);
    expect(seen.usr).toBe(false);
    expect(seen.tmp).toBe(true); // a private /tmp
    expect(seen.home).toMatch(/^\/run\/cellflow-kernel\//);
    expect(existsSync(join(cwd, 'result.csv'))).toBe(true);
    expect(existsSync('/tmp/x')).toBe(false);
  });

  it("shows a notebook's own folder of the lab's tree, and nothing else of it", async () => {
    const lab = await folder('lab');
    await mkdir(join(lab, 'team-a'));
    await mkdir(join(lab, 'team-b'));
    await writeFile(join(lab, 'team-a', 'input.csv'), 'a\n');
    await writeFile(join(lab, 'team-b', 'private.csv'), 'b\n');
    await writeFile(join(lab, 'top.txt'), 'top\n');
    const data = await folder('data');
    kernel = await startKernel({
      python,
      cwd: join(lab, 'team-a'),
      sandbox: sandbox([lab, data]),
      kernelsDir: join(data, 'kernels')
    });
    const seen = JSON.parse(
      await run(
        [
          'import json, os',
          `lab = ${JSON.stringify(lab)}`,
          'print(json.dumps({"own": open("input.csv").read(), "lab": sorted(os.listdir(lab)),',
          '  "b": os.path.exists(os.path.join(lab, "team-b", "private.csv")),',
          '  "top": os.path.exists(os.path.join(lab, "top.txt"))}))'
        ].join('\n')
      )
    );
    expect(seen).toEqual({ own: 'a\n', lab: ['team-a'], b: false, top: false });
  });

  it('dies with the server even when the server is killed with -9', async () => {
    const data = await folder('data');
    const cwd = await folder('orphan');
    // A server stand-in: a Node process that starts a sandboxed kernel, says its pid, then waits.
    const script = `
      import { startKernel } from ${JSON.stringify(new URL('../lib/server/src/executor/index.js', import.meta.url).pathname)};
      import { findBwrap, defaultHiddenPaths, pythonPaths } from ${JSON.stringify(new URL('../lib/server/src/executor/sandbox.js', import.meta.url).pathname)};
      const found = findBwrap();
      const kernel = await startKernel({
        python: ${JSON.stringify(python)},
        cwd: ${JSON.stringify(cwd)},
        kernelsDir: ${JSON.stringify(join(data, 'kernels'))},
        sandbox: { bwrap: found.bwrap, hidden: [...defaultHiddenPaths(), ${JSON.stringify(data)}], pythonPaths: pythonPaths(${JSON.stringify(python)}) }
      });
      console.log('KERNEL ' + kernel.pid);
      setInterval(() => {}, 1000);
    `;
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit']
      }
    );
    const pid = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', chunk => {
        out += chunk;
        const match = /KERNEL (\d+)/.exec(out);
        if (match) {
          resolve(Number(match[1]));
        }
      });
      child.once('exit', code =>
        reject(new Error(`the stand-in exited (${code})`))
      );
    });
    expect(alive(pid)).toBe(true);
    child.kill('SIGKILL');
    const until = Date.now() + 10_000;
    while (alive(pid) && Date.now() < until) {
      await new Promise(r => setTimeout(r, 50));
    }
    expect(alive(pid)).toBe(false);
  }, 60_000);

  it('hides the data dir again inside a checkout its Python shows (an editable install under /tmp)', async () => {
    const checkout = await mkdtemp(join(tmpdir(), 'cellflow-checkout-'));
    dirs.push(checkout);
    const data = join(checkout, '.cellflow-data');
    const cwd = join(data, 'flows', 'f1');
    await mkdir(cwd, { recursive: true });
    const args = bwrapArguments(
      {
        bwrap: 'bwrap',
        hidden: [data],
        pythonPaths: [checkout, join(checkout, 'sub')]
      },
      { cwd, kernelDir: '/k', command: ['python'] }
    );
    const at = (...pair: string[]) =>
      args.findIndex((a, i) => pair.every((p, j) => args[i + j] === p));
    const shown = at('--ro-bind', checkout, checkout);
    const hidden = at('--tmpfs', data);
    const bound = at('--bind', cwd, cwd);
    expect(shown).toBeGreaterThan(0);
    expect(hidden).toBeGreaterThan(shown);
    expect(bound).toBeGreaterThan(hidden);
    // The folder inside a folder already shown is not bound twice.
    expect(at('--ro-bind', join(checkout, 'sub'), join(checkout, 'sub'))).toBe(
      -1
    );
  });

  it("a restarted server kills the processes naming its predecessor's kernel folders, and nothing else", async () => {
    const data = await folder('data');
    const kernelsDir = join(data, 'kernels');
    kernel = await startKernel({
      python,
      cwd: await folder('orphaned'),
      sandbox: sandbox([data]),
      kernelsDir
    });
    // A process that names nothing of the kernel's: left alone.
    const other = spawn('sleep', ['30']);
    try {
      // The outer bwrap, and its inner one when the scan reaches it before it died with the outer.
      expect(killOrphanKernels(kernelsDir)).toBeGreaterThanOrEqual(1);
      const exit = await kernel.exited;
      expect(exit.signal ?? exit.code).toBeTruthy();
      expect(alive(other.pid!)).toBe(true);
    } finally {
      other.kill();
    }
  });

  it('mounts a hidden folder again over a working folder that contains it', async () => {
    const lab = await folder('lab');
    const inner = join(lab, '.cellflow-data');
    await mkdir(inner);
    const args = bwrapArguments(
      { bwrap: 'bwrap', hidden: [lab, inner], pythonPaths: [] },
      { cwd: lab, kernelDir: '/k', command: ['python'] }
    );
    const bindAt = args.findIndex(
      (a, i) => a === '--bind' && args[i + 1] === lab
    );
    expect(bindAt).toBeGreaterThan(0);
    const hideAt = args.lastIndexOf(inner);
    expect(args[hideAt - 1]).toBe('--tmpfs');
    expect(hideAt).toBeGreaterThan(bindAt);
  });

  it.runIf(process.getuid?.() === 0)(
    "runs as the workspace's own OS user, without the server user's files",
    async () => {
      const users = new KernelUsers();
      const workspaceId = `sandbox-test-${process.pid}`;
      const user = users.userFor(workspaceId);
      expect(user.uid).not.toBe(0);
      const cwd = await folder('user');
      await chown(cwd, user.uid, user.gid);
      const data = await folder('data');
      kernel = await startKernel({
        python,
        cwd,
        sandbox: sandbox([data]),
        kernelsDir: join(data, 'kernels'),
        user
      });
      const seen = JSON.parse(
        await run(
          [
            'import json, os',
            'def reads(path):',
            '    try:',
            '        open(path).read(1); return True',
            '    except OSError:',
            '        return False',
            'open("mine.csv", "w").write("x")',
            'print(json.dumps({"uid": os.getuid(), "shadow": reads("/etc/shadow"), "caps": open("/proc/self/status").read().split("CapEff:")[1].split()[0]}))'
          ].join('\n')
        )
      );
      expect(seen).toEqual({
        uid: user.uid,
        shadow: false,
        caps: '0000000000000000'
      });
      expect(kernelUserName(workspaceId)).toMatch(/^cf-[0-9a-f]{12}$/);
    }
  );
});
