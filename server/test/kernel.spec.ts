/**
 * ZmqKernel against a real ipykernel from the project's .venv.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KernelDiedError, KernelOutput } from '../../src/flow/kernel.js';
import { startKernel, ZmqKernel } from '../src/executor/index.js';

const python = new URL('../../.venv/bin/python', import.meta.url).pathname;
const started: number[] = [];

async function start(
  options: Parameters<typeof startKernel>[0] = {}
): Promise<ZmqKernel> {
  const kernel = await startKernel({ python, ...options });
  started.push(kernel.pid);
  return kernel;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('ZmqKernel on a real ipykernel', () => {
  let kernel: ZmqKernel;

  beforeAll(async () => {
    kernel = await start();
  });

  afterAll(async () => {
    await kernel?.shutdown();
  });

  it('reports the kernel info once ready', () => {
    expect(kernel.kernelInfo?.implementation).toBe('ipython');
    expect(kernel.pid).toBeGreaterThan(0);
  });

  it('captures stdout and the execute_result in nbformat shape', async () => {
    const outputs: KernelOutput[] = [];
    const result = await kernel.execute('print("hello")\n6 * 7', {
      onOutput: o => outputs.push(o)
    });
    expect(result.status).toBe('ok');
    expect(result.executionCount).toBeGreaterThan(0);
    expect(outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'hello\n' },
      {
        output_type: 'execute_result',
        execution_count: result.executionCount,
        data: { 'text/plain': '42' },
        metadata: {}
      }
    ]);
  });

  it('captures display_data and stderr', async () => {
    const outputs: KernelOutput[] = [];
    await kernel.execute(
      'import sys\nfrom IPython.display import display, HTML\ndisplay(HTML("<b>x</b>"))\nprint("oops", file=sys.stderr)',
      { onOutput: o => outputs.push(o) }
    );
    expect(outputs[0]).toMatchObject({
      output_type: 'display_data',
      data: { 'text/html': '<b>x</b>' }
    });
    expect(outputs[1]).toEqual({
      output_type: 'stream',
      name: 'stderr',
      text: 'oops\n'
    });
  });

  it('returns status error with ename, evalue and traceback, and an error output', async () => {
    const outputs: KernelOutput[] = [];
    const result = await kernel.execute('raise ValueError("no data")', {
      onOutput: o => outputs.push(o)
    });
    expect(result.status).toBe('error');
    expect(result.ename).toBe('ValueError');
    expect(result.evalue).toBe('no data');
    expect(result.traceback!.join('\n')).toContain('ValueError');
    expect(outputs).toHaveLength(1);
    expect(outputs[0]).toMatchObject({
      output_type: 'error',
      ename: 'ValueError',
      evalue: 'no data'
    });
  });

  it('runs a request right after an error (no abort of the next request)', async () => {
    await kernel.execute('1/0');
    const result = await kernel.execute('x = 1');
    expect(result.status).toBe('ok');
  });

  it('runs silent plumbing without outputs or execution count', async () => {
    const before = await kernel.execute('1');
    const outputs: KernelOutput[] = [];
    const silent = await kernel.execute('print("hidden"); y = 2', {
      silent: true,
      storeHistory: false,
      onOutput: o => outputs.push(o)
    });
    expect(silent.status).toBe('ok');
    expect(outputs).toEqual([]);
    const after = await kernel.execute('y');
    expect(after.executionCount).toBe(before.executionCount! + 1);
  });

  it('interrupts time.sleep(30) with KeyboardInterrupt', async () => {
    let sleeping: () => void = () => undefined;
    const started = new Promise<void>(resolve => (sleeping = resolve));
    // The print tells us the sleep is under way, so the interrupt is not sent before it.
    const running = kernel.execute(
      'import time\nprint("sleeping", flush=True)\ntime.sleep(30)',
      {
        onOutput: o => {
          if (o.output_type === 'stream') {
            sleeping();
          }
        }
      }
    );
    await started;
    await kernel.interrupt();
    const result = await running;
    expect(result.status).toBe('error');
    expect(result.ename).toBe('KeyboardInterrupt');
    // The kernel stays usable.
    expect((await kernel.execute('1 + 1')).status).toBe('ok');
  });
});

describe('ZmqKernel death and lifecycle', () => {
  let kernel: ZmqKernel | undefined;

  afterEach(async () => {
    await kernel?.kill();
    kernel = undefined;
  });

  it('rejects a pending execute with KernelDiedError when the kernel exits', async () => {
    kernel = await start();
    const error = await kernel.execute('import os; os._exit(1)').catch(e => e);
    expect(error).toBeInstanceOf(KernelDiedError);
    expect(error.message).toContain('exit code 1');
    expect(await kernel.exited).toMatchObject({ code: 1 });
    // Later requests fail at once too.
    await expect(kernel.execute('1')).rejects.toBeInstanceOf(KernelDiedError);
    await expect(kernel.interrupt()).rejects.toBeInstanceOf(KernelDiedError);
  });

  it('shuts down cleanly and removes its connection file and folder', async () => {
    kernel = await start();
    const pid = kernel.pid;
    const dir = kernel.connectionDir;
    expect(existsSync(join(dir, 'ipython'))).toBe(true);
    // The connection file holds the key: gone as soon as the kernel is ready.
    expect(existsSync(join(dir, 'kernel.json'))).toBe(false);
    const exit = await kernel.shutdown();
    expect(exit.signal).toBeNull();
    expect(alive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it('kills a kernel stuck in a request', async () => {
    kernel = await start();
    const running = kernel.execute('import time; time.sleep(30)');
    // Handle the rejection before killing: it may settle while kill() is still awaited.
    const died = expect(running).rejects.toBeInstanceOf(KernelDiedError);
    const exit = await kernel.kill();
    expect(exit.signal).toBe('SIGKILL');
    await died;
  });

  it('names the python when the kernel cannot start', async () => {
    await expect(
      startKernel({ python: '/nonexistent/python' })
    ).rejects.toThrow(/\/nonexistent\/python/);
  });

  it('passes cwd and env to the kernel', async () => {
    kernel = await start({ cwd: '/tmp', env: { CELLFLOW_TEST_VAR: 'v1' } });
    const outputs: KernelOutput[] = [];
    await kernel.execute(
      'import os\nprint(os.getcwd(), os.environ["CELLFLOW_TEST_VAR"], os.environ["JPY_PARENT_PID"])',
      {
        onOutput: o => outputs.push(o)
      }
    );
    expect(outputs[0]).toMatchObject({ text: `/tmp v1 ${process.pid}\n` });
  });
});

afterAll(() => {
  // No kernel started by this file may outlive it.
  expect(started.filter(alive)).toEqual([]);
});
