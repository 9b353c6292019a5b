import { expect, test } from '@jupyterlab/galata';

import { CellflowPage } from './helpers/cellflow-page';
import { codeCell, notebook } from './helpers/notebooks';

/** `extract` is cached for an hour; `load` uses what it set. */
function cachedFlow() {
  return notebook([
    codeCell(
      "%%task extract --cache-for 1h\nrows = list(range(5))\nprint('extracted', len(rows))"
    ),
    codeCell("%%task load\nprint('loaded', sum(rows))")
  ]);
}

test.describe('Task caching with a real Cellflow server', () => {
  test.use({ kernels: null });

  test('the second Run now restores the cached task: its chip says "Cached (from run …)"; Refresh cache runs it again', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(`${tmpPath}/cached.ipynb`, cachedFlow());
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    // The chip shows the setting at a glance.
    await expect(
      cellflow.chip(0).locator('.jp-CellflowChip-settings')
    ).toHaveText('cached 1h');

    await cellflow.panelButton('Deploy');
    await expect(
      cellflow.panel.locator('.jp-CellflowActions-version')
    ).toContainText('Deployed version 1, up to date.');

    await cellflow.panelButton('Run now');
    await expect(cellflow.chipState(0)).toContainText('Completed in', {
      timeout: 60000
    });
    await expect(cellflow.chipState(1)).toContainText('Completed in', {
      timeout: 60000
    });

    await cellflow.panelButton('Run now');
    await expect(cellflow.chipState(0)).toHaveText(
      /^Cached \(from run [0-9a-f-]{8}\)$/,
      { timeout: 60000 }
    );
    // The downstream task ran on the restored variables.
    await expect(cellflow.chipState(1)).toContainText('Completed in', {
      timeout: 60000
    });

    await cellflow.setRefreshCache(true);
    await cellflow.panelButton('Run now');
    await expect(cellflow.chipState(0)).toContainText('Completed in', {
      timeout: 60000
    });
  });
});
