/**
 * A kernel started ahead has formatted one traceback before a run takes it (traceback-warmup.ts), so
 * a run's first failed attempt does not pay IPython's first-traceback cost; and the warm-up leaves
 * nothing the user could see: no output, no history, no execution count, nothing in the namespace.
 * Real kernels from the KernelLauncher, as the server starts them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import type { RunKernel } from '../src/executor/index.js';
import { KernelLauncher } from '../src/runs/kernel-launcher.js';
import { warmsTracebacks } from '../src/runs/traceback-warmup.js';
import { python } from './runs-helpers.js';

const dirs: string[] = [];
const kernels: RunKernel[] = [];
const launchers: KernelLauncher[] = [];
afterAll(async () => {
  await Promise.all(launchers.map(l => l.close()));
  await Promise.all(kernels.map(k => k.shutdown()));
  await Promise.all(dirs.map(d => rm(d, { recursive: true, force: true })));
});

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cellflow-tbwarm-'));
  dirs.push(dir);
  return dir;
}

/** What a user's cell would print, and its execution count. */
async function run(
  kernel: RunKernel,
  code: string
): Promise<{ text: string; count: number | null | undefined }> {
  let text = '';
  const result = await kernel.execute(code, {
    storeHistory: true,
    onOutput: o => {
      if (o.output_type === 'stream') {
        text += String(o.text);
      }
    }
  });
  return { text: text.trim(), count: result.executionCount };
}

/** A launcher of unisolated kernels, keeping `warmKernels` started ahead; closed after the tests. */
async function launcher(warmKernels: number): Promise<KernelLauncher> {
  const made = new KernelLauncher({
    python,
    isolation: { mode: 'none' },
    kernelsDir: await folder(),
    warmKernels
  });
  launchers.push(made);
  return made;
}

// Modules IPython's verbose traceback formatter imports at its first use, not at kernel start.
const FORMATTER_LOADED =
  "import sys; print('stack_data' in sys.modules and 'pygments.formatters.terminal256' in sys.modules)";

describe('the traceback warm-up of kernels started ahead', () => {
  it('has run in a warm kernel, leaving no trace a user could see', async () => {
    const warm = await launcher(1);
    const profile = await warm.profile('ws-warm', await folder());
    warm.prepare(profile);
    await warm.whenWarmSettled();
    expect(warm.warmReady).toBe(1);
    const kernel = await warm.start(profile);
    kernels.push(kernel);

    const first = await run(kernel, FORMATTER_LOADED);
    expect(first.text).toBe('True');
    // Silent and out of history: the user's first cell is In [1].
    expect(first.count).toBe(1);
    const left = await run(
      kernel,
      "print(sorted(n for n in globals() if 'cellflow' in n), any('cellflow' in h for h in get_ipython().history_manager.input_hist_raw[:-1]))"
    );
    expect(left.text).toBe('[] False');
  });

  it('is what makes the difference: a kernel started for the run has not formatted one yet', async () => {
    const cold = await launcher(0);
    const kernel = await cold.start(
      await cold.profile('ws-cold', await folder())
    );
    kernels.push(kernel);
    expect((await run(kernel, FORMATTER_LOADED)).text).toBe('False');
  });

  it('runs only on Python kernels', async () => {
    const base = await (await launcher(0)).profile('ws', await folder());
    expect(warmsTracebacks(base)).toBe(true);
    const spec = { name: 'ir', argv: ['R'], env: {}, language: 'R', dir: '/x' };
    expect(warmsTracebacks({ ...base, kernelspec: spec })).toBe(false);
    expect(
      warmsTracebacks({ ...base, kernelspec: { ...spec, language: 'Python' } })
    ).toBe(true);
  });
});
