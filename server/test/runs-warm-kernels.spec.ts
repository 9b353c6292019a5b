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

interface Profile {
  key: string;
  cwd: string;
}

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cellflow-warm-'));
  dirs.push(dir);
  return dir;
}

describe('WarmKernels', () => {
  it("hands out a kernel started ahead in its profile's folder, and starts the next one", async () => {
    const a: Profile = { key: 'a', cwd: await folder() };
    let started = 0;
    const pool = new WarmKernels<Profile>(profile => {
      started++;
      return startKernel({ python, cwd: profile.cwd });
    }, 1);
    pools.push(pool);
    pool.prepare(a);
    await pool.whenSettled();
    expect(pool.readyCount).toBe(1);

    const kernel = await pool.take(a);
    expect(kernel).not.toBeNull();
    taken.push(kernel!);
    expect(await printed(kernel!, 'import os; print(os.getcwd())')).toBe(a.cwd);

    // Taking one starts its replacement, for the same profile.
    await pool.whenSettled();
    expect(started).toBe(2);
    expect(pool.readyCount).toBe(1);
    const next = await pool.take(a);
    expect(next).not.toBeNull();
    taken.push(next!);
    expect(next!.pid).not.toBe(kernel!.pid);
  });

  it("never hands out another profile's kernel; the least recently used one makes room", async () => {
    const a: Profile = { key: 'a', cwd: await folder() };
    const b: Profile = { key: 'b', cwd: await folder() };
    const pool = new WarmKernels<Profile>(
      profile => startKernel({ python, cwd: profile.cwd }),
      1
    );
    pools.push(pool);
    pool.prepare(a);
    await pool.whenSettled();
    const [warmA] = (pool as unknown as { ready: { kernel: ZmqKernel }[] })
      .ready;
    expect(await pool.take(b)).toBeNull(); // the caller starts its own
    await warmA.kernel.exited; // shut down to make room for b's
    await pool.whenSettled();
    expect(pool.readyCount).toBe(1);
    const kernel = await pool.take(b);
    expect(kernel).not.toBeNull();
    taken.push(kernel!);
    expect(await printed(kernel!, 'import os; print(os.getcwd())')).toBe(b.cwd);
  });

  it('answers null when no kernel is ready, and drops a kernel that died while waiting', async () => {
    const a: Profile = { key: 'a', cwd: await folder() };
    const pool = new WarmKernels<Profile>(
      profile => startKernel({ python, cwd: profile.cwd }),
      1
    );
    pools.push(pool);
    expect(await pool.take(a)).toBeNull(); // nothing started yet: the caller starts its own
    await pool.whenSettled();
    expect(pool.readyCount).toBe(1);
    const [victim] = (pool as unknown as { ready: { kernel: ZmqKernel }[] })
      .ready;
    await victim.kernel.kill();
    expect(await pool.take(a)).toBeNull();
  });

  it('keeps none with size 0', async () => {
    const a: Profile = { key: 'a', cwd: await folder() };
    let started = 0;
    const pool = new WarmKernels<Profile>(() => {
      started++;
      return startKernel({ python, cwd: a.cwd });
    }, 0);
    pools.push(pool);
    expect(await pool.take(a)).toBeNull();
    await pool.whenSettled();
    expect(started).toBe(0);
  });
});
