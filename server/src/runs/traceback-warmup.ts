/**
 * A kernel started ahead formats one traceback before any run takes it. IPython's first traceback in a
 * process costs ~100 ms (its verbose formatter imports stack_data and pygments and fills their caches;
 * later ones cost ~10 ms), and a run paid it on its first failed attempt: most of the retries' time
 * beyond their delays (issue 16, measured by bench/peers.mjs's retries workload). Nothing is shown, kept
 * in history or left in the user's namespace: the request is silent and the helper deletes itself.
 */
import type { RunKernel } from '../executor/index.js';
import type { LaunchProfile } from './kernel-provider.js';

export const TRACEBACK_WARMUP_CODE = [
  'def _cellflow_warm_tracebacks():',
  '    import sys',
  '    try:',
  "        raise RuntimeError('cellflow: warming up the traceback formatter')",
  '    except RuntimeError:',
  '        get_ipython().InteractiveTB.structured_traceback(*sys.exc_info())',
  'try:',
  '    _cellflow_warm_tracebacks()',
  'finally:',
  '    del _cellflow_warm_tracebacks'
].join('\n');

/** Only IPython kernels (the default python3, or a kernelspec whose language is Python). */
export function warmsTracebacks(profile: LaunchProfile): boolean {
  return (
    !profile.kernelspec ||
    profile.kernelspec.language.toLowerCase() === 'python'
  );
}

/**
 * Runs the warm-up on a kernel started ahead and hands the kernel back. A warm-up that fails changes
 * nothing for the run (its first traceback is only slower), so its outcome is not looked at.
 */
export async function warmUpTracebacks(
  kernel: RunKernel,
  profile: LaunchProfile
): Promise<RunKernel> {
  if (warmsTracebacks(profile)) {
    await kernel
      .execute(TRACEBACK_WARMUP_CODE, { silent: true, storeHistory: false })
      .catch(() => undefined);
  }
  return kernel;
}
