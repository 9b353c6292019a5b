import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { startKernel, type ZmqKernel } from '../src/executor/index.js';
import { WarmKernels } from '../src/runs/warm-kernels.js';
import { python } from './runs-helpers.js';

const taken: ZmqKernel[] = [];
const pools: WarmKernels[] = [];
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(pools.map(p => p.close()));
  await Promise.all(taken.map(k => k.shutdown()));
  await Promise.all(dirs.map(d => rm(d, { recursive: true, force: true })));
});

async function printed(kernel: ZmqKernel, code: string): Promise<string> {
  let text = '';
  await kernel.execute(code, {
    onOutput: o => {
      if (o.output_type === 'stream') {
        text += String(o.text);
      }
    }
  });
  return text.trim();
}

describe('WarmKernels', () => {
  it('hands out a kernel started ahead, moved to the run folder, and starts the next one', async () => {
    const neutral = await mkdtemp(join(tmpdir(), 'cellflow-warm-'));
    const runDir = await mkdtemp(join(tmpdir(), 'cellflow-warm-run-'));
    dirs.push(neutral, runDir);
    let started = 0;
    const pool = new WarmKernels(() => {
      started++;
      return startKernel({ python, cwd: neutral });
    }, 1);
    pools.push(pool);
    pool.fill();
    await pool.whenSettled();
    expect(pool.readyCount).toBe(1);

    const kernel = await pool.take(runDir);
    expect(kernel).not.toBeNull();
    taken.push(kernel!);
    expect(await printed(kernel!, 'import os; print(os.getcwd())')).toBe(
      runDir
    );
    // The move left nothing behind in the user's namespace or history.
    expect(await printed(kernel!, "print('_cf_os' in dir())")).toBe('False');

    // Taking one starts its replacement.
    await pool.whenSettled();
    expect(started).toBe(2);
    expect(pool.readyCount).toBe(1);
  });

  it('answers null when no kernel is ready, and drops a kernel that died while waiting', async () => {
    const neutral = await mkdtemp(join(tmpdir(), 'cellflow-warm-'));
    dirs.push(neutral);
    const pool = new WarmKernels(
      () => startKernel({ python, cwd: neutral }),
      1
    );
    pools.push(pool);
    expect(await pool.take(neutral)).toBeNull(); // nothing started yet: the caller starts its own
    await pool.whenSettled();
    expect(pool.readyCount).toBe(1);
    const [victim] = (pool as unknown as { ready: ZmqKernel[] }).ready;
    await victim.kill();
    expect(await pool.take(neutral)).toBeNull();
  });
});
