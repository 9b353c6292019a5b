import { expect, test } from '@jupyterlab/galata';

import { CellflowPage } from './helpers/cellflow-page';
import { codeCell, notebook } from './helpers/notebooks';

/** A three-task flow with parameters; `transform` fails on its first attempt in each kernel. */
function etlLike() {
  return notebook([
    codeCell(
      'greeting = "hello"  # what extract says\nrows = 3  # how many rows',
      {
        tags: ['parameters']
      }
    ),
    codeCell(
      'import pandas as pd\npd.options.display.html.table_schema = True'
    ),
    codeCell(
      '%%task extract\ndata = list(range(rows))\nprint(greeting, len(data))'
    ),
    codeCell(
      [
        '%%task transform --retries 2 --retry-delay 1',
        "tries = globals().get('tries', 0) + 1",
        'if tries == 1:',
        "    raise RuntimeError('flaky, try again')",
        "df = pd.DataFrame({'n': data, 'square': [x * x for x in data]})",
        'df'
      ].join('\n')
    ),
    codeCell('%%task load\nprint("loaded", int(df.square.sum()))')
  ]);
}

test.describe('The Cellflow panel with a real Cellflow server', () => {
  test.use({ kernels: null });

  test('a wrong key is refused with its message; the right key logs in', async ({
    page
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openPanelFromSidebar();
    const { url, key } = CellflowPage.server();
    await cellflow.login(url, 'cf_wrong-key-0000000000000000000000000000000');
    await expect(cellflow.panel.locator('.jp-CellflowError')).toContainText(
      'refused this API key'
    );
    // What the user typed is kept for the next try.
    await expect(cellflow.panel.locator('input[name="url"]')).toHaveValue(url);

    await cellflow.login('http://127.0.0.1:9', key);
    await expect(cellflow.panel.locator('.jp-CellflowError')).toContainText(
      'Cannot reach'
    );

    await cellflow.login(url, key);
    await expect(
      cellflow.panel.locator('.jp-CellflowConnection-status')
    ).toContainText('Workspace ui-tests (key “galata”)');
  });

  test('deploy, set a task’s retries, run now: chips go Running → Retrying → Completed, and the run view shows logs and the DataFrame', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(`${tmpPath}/panel_etl.ipynb`, etlLike());
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();

    // Parameters appear as typed fields; a bad integer is refused as typed.
    const rows = cellflow.panel.locator('[data-parameter="rows"] input');
    await rows.fill('three');
    await expect(
      cellflow.panel.locator('[data-parameter="rows"] .jp-CellflowError')
    ).toContainText('parameter "rows" must be a whole number');
    await rows.fill('4');

    // Clicking a chip selects the task; its retries are edited in the panel and reach the %%task line.
    await cellflow.chip(2).click();
    const retries = cellflow.panel.locator(
      '.jp-CellflowTaskSettings input[name="retries"]'
    );
    await retries.fill('1');
    await retries.press('Enter');
    await expect(
      cellflow.chip(2).locator('.jp-CellflowChip-settings')
    ).toHaveText('retries 1');
    expect(await page.notebook.getCellTextInput(2)).toContain(
      '%%task extract --retries 1'
    );

    await cellflow.panelButton('Deploy');
    await expect(
      cellflow.panel.locator('.jp-CellflowActions-version')
    ).toContainText('Deployed version 1, up to date.');
    await cellflow.panelButton('Run now');

    await expect(cellflow.chipState(3)).toContainText('Retrying 1/2');
    for (const index of [2, 3, 4]) {
      await expect(cellflow.chipState(index)).toContainText('Completed', {
        timeout: 60000
      });
    }

    // The history lists the run; its view shows the logs and the DataFrame rendered as a table.
    const row = cellflow.panel
      .locator('.jp-CellflowRuns-table tr[data-run]')
      .first();
    await expect(row).toHaveAttribute('data-state', 'Completed');
    await expect(row).toContainText('"rows":4');
    await row.click();
    await expect(cellflow.panel.locator('.jp-CellflowLogs')).toContainText(
      'hello 4'
    );
    await expect(
      cellflow.panel.locator(
        '.jp-CellflowRunDetail-task[data-task="transform"] table'
      )
    ).toContainText('square');
    await cellflow.screenshot('panel-light');
  });
});
