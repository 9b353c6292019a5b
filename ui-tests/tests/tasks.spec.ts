import { expect, test } from '@jupyterlab/galata';

import { CellflowPage } from './helpers/cellflow-page';
import { codeCell, notebook } from './helpers/notebooks';

test.describe('Cells as tasks', () => {
  // galata's kernels mock parses every POST /api/kernels/* reply as JSON, but an interrupt answers
  // 204 with no body: without the mock, timeouts and Stop interrupt the real kernel as in the lab.
  // Sessions stay tracked, and closing them shuts their kernels down after each test.
  test.use({ kernels: null });

  test('the cell toolbar button makes a task, and %%task edits show on its chip and on disk', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await page.notebook.createNew('tasks.ipynb');
    await page.notebook.setCell(0, 'code', 'rows = [1, 2, 3]');
    await page.notebook.selectCells(0);

    // The toolbar button proposes a name from the cell's code: the user accepts it.
    await cellflow.makeActiveCellATask();
    await expect(cellflow.chip(0).locator('.jp-CellflowChip-name')).toHaveText(
      'rows'
    );

    // Typing a %%task line renames the task and sets its retries.
    await page.notebook.setCell(
      0,
      'code',
      '%%task load --retries 2\nrows = [1, 2, 3]\nlen(rows)'
    );
    await expect(cellflow.chip(0).locator('.jp-CellflowChip-name')).toHaveText(
      'load'
    );
    await expect(
      cellflow.chip(0).locator('.jp-CellflowChip-settings')
    ).toHaveText('retries 2');

    // A bad option shows on the chip instead of throwing.
    await page.notebook.setCell(
      0,
      'code',
      '%%task load --retries -1\nrows = [1, 2, 3]\nlen(rows)'
    );
    await expect(
      cellflow.chip(0).locator('.jp-CellflowChip-problems')
    ).toContainText('retries must be a whole number ≥ 0');
    await page.notebook.setCell(
      0,
      'code',
      '%%task load --retries 2\nrows = [1, 2, 3]\nlen(rows)'
    );
    await expect(
      cellflow.chip(0).locator('.jp-CellflowChip-settings')
    ).toHaveText('retries 2');

    // The %%task cell runs interactively, as its body would (its last expression is its output).
    await page.notebook.runCell(0);
    expect((await page.notebook.getCellTextOutput(0))?.join('').trim()).toBe(
      '3'
    );

    // A restarted kernel learns the magic again. (The command resolves only once its dialog is
    // answered, so it is not awaited in the page.)
    await page.evaluate(() => {
      void (window as any).jupyterapp.commands.execute(
        'notebook:restart-kernel'
      );
    });
    await page.locator('.jp-Dialog .jp-mod-accept').click();
    await cellflow.waitForKernelIdle();
    await page.notebook.runCell(0);
    expect((await page.notebook.getCellTextOutput(0))?.join('').trim()).toBe(
      '3'
    );

    // After save, the .ipynb on disk holds the task in the cell's metadata.
    await page.notebook.save();
    const onDisk = await cellflow.notebookOnDisk(`${tmpPath}/tasks.ipynb`);
    expect(onDisk.cells[0].metadata.cellflow).toEqual({
      task: { name: 'load', retries: 2 }
    });
  });

  test('Run here retries a task that fails once, and every chip ends Completed', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/three.ipynb`,
      notebook([
        codeCell(
          '%%task extract\ndata = [1, 2, 3]\nprint("extracted", len(data))'
        ),
        codeCell(
          [
            '%%task transform --retries 2 --retry-delay 2',
            "attempts = globals().get('attempts', 0) + 1",
            'if attempts == 1:',
            "    raise RuntimeError('flaky upstream, try again')",
            'doubled = [x * 2 for x in data]'
          ].join('\n')
        ),
        codeCell('%%task load\nprint("loaded", sum(doubled))')
      ])
    );
    await expect(cellflow.chip(2)).toBeVisible();
    await cellflow.runHere();

    await expect(
      cellflow.chip(1).locator('.jp-CellflowChip-state')
    ).toContainText('Retrying 1/2');
    for (const index of [0, 1, 2]) {
      await expect(
        cellflow.chip(index).locator('.jp-CellflowChip-state')
      ).toContainText('Completed');
    }
    // Each task's outputs are in its cell, as running it by hand shows them.
    expect((await page.notebook.getCellTextOutput(2))?.join('')).toContain(
      'loaded 12'
    );
    await cellflow.screenshot('run-here-completed');
  });

  test('Run here leaves outputs as a notebook run does: display updates, clear_output, and an expected error in a raises-exception cell', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/outputs.ipynb`,
      notebook([
        codeCell(
          [
            '%%task shown',
            'from IPython.display import display, clear_output',
            'h = display("first", display_id=True)',
            'h.update("second")'
          ].join('\n')
        ),
        codeCell(
          [
            '%%task counted',
            'for i in range(10):',
            '    clear_output(wait=True)',
            '    print("count", i)'
          ].join('\n')
        ),
        codeCell('raise ValueError("expected here")', {
          tags: ['raises-exception']
        }),
        codeCell('%%task after\nh.update("third")\nprint("after")')
      ])
    );
    await expect(cellflow.chip(3)).toBeVisible();
    await cellflow.runHere();
    for (const index of [0, 1, 3]) {
      await expect(cellflow.chipState(index)).toContainText('Completed');
    }
    // The display shows its last value, updated from a later cell; the loop leaves its last line.
    const shown = (await page.notebook.getCellTextOutput(0))?.join('') ?? '';
    expect(shown).toContain('third');
    expect(shown).not.toContain('first');
    expect((await page.notebook.getCellTextOutput(1))?.join('').trim()).toBe(
      'count 9'
    );
    expect((await page.notebook.getCellTextOutput(2))?.join('')).toContain(
      'expected here'
    );
    expect((await page.notebook.getCellTextOutput(3))?.join('')).toContain(
      'after'
    );
  });

  test('a task with --timeout 1 around a long sleep ends Failed (timed out), and the kernel stays usable', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/slow.ipynb`,
      notebook([
        codeCell('%%task slow --timeout 1\nimport time\ntime.sleep(30)'),
        codeCell('print(6 * 7)')
      ])
    );
    await expect(cellflow.chip(0)).toBeVisible();
    await cellflow.runHere();
    await expect(
      cellflow.chip(0).locator('.jp-CellflowChip-state')
    ).toContainText('Failed (timed out)', { timeout: 15000 });
    await page.notebook.runCell(1);
    expect((await page.notebook.getCellTextOutput(1))?.join('')).toContain(
      '42'
    );
  });

  test('opening a notebook with %%task lines leaves its cells unchanged; editing a task line then writes its metadata', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    // As examples/etl.ipynb is kept in git: %%task lines, no cellflow metadata in the cells.
    await cellflow.openNotebook(
      `${tmpPath}/as-committed.ipynb`,
      notebook([
        codeCell('%%task extract --retries 3\nrows = [1, 2, 3]'),
        codeCell('%%task load\ntotal = sum(rows)')
      ])
    );
    await expect(cellflow.chip(0).locator('.jp-CellflowChip-name')).toHaveText(
      'extract'
    );
    await expect(cellflow.chip(1).locator('.jp-CellflowChip-name')).toHaveText(
      'load'
    );
    // JupyterLab itself fills in the kernel's language_info on open; Cellflow must add nothing.
    const cellMetadata = () =>
      page.evaluate(() =>
        (window as any).jupyterapp.shell.currentWidget.context.model
          .toJSON()
          .cells.map((cell: any) => {
            const { trusted, ...rest } = cell.metadata;
            void trusted;
            return rest;
          })
      );
    expect(
      await cellMetadata(),
      'opening the notebook changed its cells'
    ).toEqual([{}, {}]);

    // The user changes a task: now its metadata follows the line, and the notebook is changed.
    await page.notebook.setCell(
      0,
      'code',
      '%%task extract --retries 5\nrows = [1, 2, 3]'
    );
    await expect(
      cellflow.chip(0).locator('.jp-CellflowChip-settings')
    ).toHaveText('retries 5');
    await expect
      .poll(cellMetadata)
      .toEqual([{ cellflow: { task: { name: 'extract', retries: 5 } } }, {}]);
    await page.notebook.save();
    const onDisk = await cellflow.notebookOnDisk(
      `${tmpPath}/as-committed.ipynb`
    );
    expect(onDisk.cells[0].metadata.cellflow).toEqual({
      task: { name: 'extract', retries: 5 }
    });
    expect(onDisk.cells[1].metadata.cellflow).toBeUndefined();
  });
});
