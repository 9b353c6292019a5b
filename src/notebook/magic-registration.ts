import type { IKernelConnection } from '@jupyterlab/services/lib/kernel/kernel';

/**
 * Python that teaches an IPython kernel the `%%task` line, so a task cell still runs interactively and
 * behaves exactly as its body would (its last expression displayed, its errors raised as usual).
 * An input transformer drops the `%%task ...` first line before IPython looks at the cell; the `task`
 * cell magic is registered too, for `%%task?` and for tools that call cell magics directly.
 * Idempotent: running it twice registers nothing twice.
 */
export const REGISTER_TASK_MAGIC = `
def _cellflow_register():
    ip = get_ipython()
    if ip is None:
        return
    def _cellflow_strip_task_line(lines):
        if lines and lines[0].lstrip().startswith('%%task') and (
                len(lines[0].strip()) == 6 or lines[0].strip()[6] in ' \\t'):
            return lines[1:]
        return lines
    _cellflow_strip_task_line.cellflow = True
    cleanup = ip.input_transformers_cleanup
    cleanup[:] = [t for t in cleanup if not getattr(t, 'cellflow', False)]
    cleanup.insert(0, _cellflow_strip_task_line)
    def task(line, cell):
        """Mark a cell as a Cellflow task: %%task NAME [--retries N] [--retry-delay S] [--backoff F] [--timeout S] [--after a,b] [--map NAME=ITERABLE] [--cache-for DURATION] [--cache-key EXPR].
        Interactively the cell runs as its body would; Cellflow reads the options when it runs the flow."""
        result = ip.run_cell(cell, store_history=False)
        if result.error_in_exec is not None:
            raise result.error_in_exec
        return result.result
    ip.register_magic_function(task, magic_kind='cell', magic_name='task')
_cellflow_register()
del _cellflow_register
`;

/** Registers the magic in a Python kernel, silently and without touching its history. */
export async function registerTaskMagic(
  kernel: IKernelConnection
): Promise<boolean> {
  const info = await kernel.info;
  if (info.language_info.name !== 'python') {
    return false;
  }
  const future = kernel.requestExecute(
    { code: REGISTER_TASK_MAGIC, silent: true, store_history: false },
    true
  );
  const reply = await future.done;
  return reply.content.status === 'ok';
}
