import { expect, test } from '@jupyterlab/galata';

import { CellflowPage } from './helpers/cellflow-page';
import { codeCell, notebook } from './helpers/notebooks';

/**
 * `make` sets five numbers; `fetch` maps over them, the third element failing its first attempt (a
 * retry 3 s later passes); `total` adds up `fetch_results`. With `bad` set, the third element always
 * fails instead.
 */
function mappedFlow(bad = false) {
  return notebook([
    codeCell('%%task make\nurls = [1, 2, 3, 4, 5]\ntries = {}'),
    codeCell(
      [
        '%%task fetch --map url=urls --retries 1 --retry-delay 3',
        'tries[url] = tries.get(url, 0) + 1',
        `if url == 3 and (${bad ? 'True' : 'tries[url] == 1'}):`,
        '    raise ConnectionError(f"flaky {url}")',
        'url * 10'
      ].join('\n')
    ),
    codeCell('%%task total\nprint("total", sum(fetch_results))')
  ]);
}

test.describe('a mapped task', () => {
  test.use({ kernels: null });

  test('Run here: the chip counts the elements as they go, one retrying, and downstream reads the results', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(`${tmpPath}/mapped.ipynb`, mappedFlow());
    await expect(cellflow.chip(1)).toContainText('map url in urls');
    await cellflow.runHere();
    // The third element waits 3 s for its retry: the chip says so, beside the two done.
    await expect(cellflow.chipProgress(1)).toHaveText(
      '2/5 completed, 1 retrying'
    );
    await expect(cellflow.chipState(1)).toContainText('Running');
    await expect(cellflow.chipProgress(1)).toHaveText('5/5 completed', {
      timeout: 30000
    });
    await expect(cellflow.chipState(1)).toContainText('Completed');
    await expect(cellflow.chipState(2)).toContainText('Completed');
    // total read fetch_results: the five results, in order, added up.
    await expect(
      page.locator('.jp-Notebook .jp-Cell').nth(2).locator('.jp-OutputArea')
    ).toContainText('total 150');
    await cellflow.screenshot('mapping-chip');
  });

  test('on the server: the grid shows the elements under their task, and a failed element stops downstream', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/mapped_fails.ipynb`,
      mappedFlow(true)
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.deployAndRun(1, 'Failed');
    // The chips follow the server's run: fetch Failed with 4 of 5 elements done, total not run.
    await expect(cellflow.chipProgress(1)).toHaveText(
      '4/5 completed, 1 failed'
    );
    await expect(cellflow.chipState(1)).toContainText(
      'Failed: MapError: 1 of 5 elements failed (fetch[2]: ConnectionError: flaky 3)'
    );
    await expect(cellflow.chipState(2)).toHaveText('Not run');

    await cellflow.panelButton('Open runs');
    await expect(cellflow.runsView).toBeVisible();
    const rows = cellflow.runsView.locator('.jp-CellflowGrid tbody tr');
    await expect(rows).toHaveCount(8);
    expect(
      await rows.evaluateAll(trs => trs.map(tr => tr.getAttribute('data-task')))
    ).toEqual([
      'make',
      'fetch',
      'fetch[0]',
      'fetch[1]',
      'fetch[2]',
      'fetch[3]',
      'fetch[4]',
      'total'
    ]);
    await expect(cellflow.gridRow('fetch[2]')).toHaveAttribute(
      'data-map-of',
      'fetch'
    );
    const cell = (task: string) =>
      cellflow.gridRow(task).locator('.jp-CellflowGrid-cell');
    await expect(cell('fetch')).toHaveAttribute('data-state', 'Failed');
    await expect(cell('fetch[2]')).toHaveAttribute('data-state', 'Failed');
    // Its own retries: two attempts on the failed element.
    await expect(cell('fetch[2]')).toHaveText('2');
    await expect(cell('fetch[3]')).toHaveAttribute('data-state', 'Completed');
    await expect(cell('total')).toHaveAttribute('data-state', 'Cancelled');
    await cellflow.screenshot('mapping-grid');
  });
});
