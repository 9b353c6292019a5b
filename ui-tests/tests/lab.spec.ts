import { expect, test } from '@jupyterlab/galata';

import { CellflowPage } from './helpers/cellflow-page';

test.describe('Cellflow in a real JupyterLab', () => {
  test('the extension is loaded by the lab from .venv', async ({ page }) => {
    const plugins = await page.evaluate(
      () => (window as any).jupyterapp.listPlugins() as string[]
    );
    expect(plugins).toContain('jupyterlab-cellflow:plugin');
  });

  test('a Python notebook runs a cell on the real ipykernel', async ({
    page
  }) => {
    const cellflow = new CellflowPage(page);
    const output = await cellflow.runInNewNotebook(
      'kernel-check.ipynb',
      'import sys\nprint(f"sum={sum(range(10))} on {sys.version_info.major}")'
    );
    expect(output).toContain('sum=45 on 3');
  });

  test('the Cellflow panel opens from the sidebar and from the palette', async ({
    page
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openPanelFromSidebar();
    await expect(cellflow.panel.locator('.jp-CellflowPanel-header')).toHaveText(
      'Cellflow'
    );
    await cellflow.screenshot('lab-with-cellflow-panel');

    // Close the sidebar, then reopen it through the palette command.
    await page.sidebar.close('left');
    await expect(cellflow.panel).toBeHidden();
    await cellflow.openPanelFromPalette();
  });
});
