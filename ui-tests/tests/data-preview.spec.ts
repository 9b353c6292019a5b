import { expect, test } from '@jupyterlab/galata';

import { CellflowPage } from './helpers/cellflow-page';
import { codeCell, notebook } from './helpers/notebooks';

/** One task whose result is a DataFrame, shown as pandas' table schema (with a missing value). */
function frameNotebook() {
  return notebook([
    codeCell(
      'import pandas as pd\npd.options.display.html.table_schema = True'
    ),
    codeCell(
      [
        '%%task frame',
        "df = pd.DataFrame({'city': ['Lyon', 'Oslo', 'Agra', 'Oslo'],",
        "                   'temp': [14.5, 3.25, 31.0, None]})",
        'df'
      ].join('\n')
    )
  ]);
}

test.describe('Data preview of a run’s DataFrame', () => {
  test.use({ kernels: null });

  test('Preview data loads the preview and danfojs on demand; headers sort by click and keyboard; summaries per column', async ({
    page,
    tmpPath
  }) => {
    // Every chunk of the extension the page fetches, with its size: danfojs is the only one over 1 MB.
    const chunks: { url: string; bytes: number }[] = [];
    page.on('response', async response => {
      if (response.url().includes('/lab/extensions/jupyterlab-cellflow/')) {
        const body = await response.body().catch(() => Buffer.alloc(0));
        chunks.push({ url: response.url(), bytes: body.length });
      }
    });
    const bigChunks = () => chunks.filter(c => c.bytes > 1_000_000);

    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/preview_frame.ipynb`,
      frameNotebook()
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.panelButton('Deploy');
    await expect(
      cellflow.panel.locator('.jp-CellflowActions-version')
    ).toContainText('up to date');
    await cellflow.panelButton('Run now');
    await expect(cellflow.chipState(1)).toContainText('Completed', {
      timeout: 60000
    });

    await cellflow.panel
      .locator('.jp-CellflowRuns-table tr[data-run]')
      .first()
      .click();
    const task = cellflow.runPage.locator(
      '.jp-CellflowRunPage-task[data-task="frame"]'
    );
    const toggle = task.getByRole('button', {
      name: 'Preview data',
      exact: true
    });
    await expect(toggle).toBeVisible();
    // The lab, the panel and the run view are all there, and danfojs has not been fetched.
    expect(bigChunks()).toEqual([]);

    await toggle.click();
    const preview = task.locator('.jp-CellflowPreview');
    await expect(preview.locator('.jp-CellflowPreview-shape')).toHaveText(
      '4 rows × 2 columns'
    );
    const cities = preview.locator('tbody td:nth-child(2)');
    await expect(cities).toHaveText(['Lyon', 'Oslo', 'Agra', 'Oslo']);

    // Summaries come from danfojs, fetched now as a chunk of its own.
    const temp = preview.locator(
      '.jp-CellflowPreview-summaries td[data-column="temp"]'
    );
    await expect(temp.locator('[data-stat="count"] dd')).toHaveText('3');
    await expect(temp.locator('[data-stat="missing"] dd')).toHaveText('1');
    await expect(temp.locator('[data-stat="mean"] dd')).toHaveText(/^16.25$/);
    await expect(temp.locator('[data-stat="min"] dd')).toHaveText(/^3.25$/);
    await expect(temp.locator('[data-stat="max"] dd')).toHaveText('31');
    const city = preview.locator(
      '.jp-CellflowPreview-summaries td[data-column="city"]'
    );
    await expect(city.locator('[data-stat="unique"] dd')).toHaveText('3');
    await expect(city.locator('[data-stat="top"] dd')).toHaveText('Oslo (2×)');
    expect(bigChunks()).toHaveLength(1);

    // Click a header: ascending, then descending (the missing temperature stays last).
    const tempHeader = preview.locator('thead th[data-column="temp"]');
    await tempHeader.getByRole('button').click();
    await expect(tempHeader).toHaveAttribute('aria-sort', 'ascending');
    const temps = preview.locator('tbody td:nth-child(3)');
    await expect(temps).toHaveText(['3.25', '14.5', '31', 'NaN']);
    await tempHeader.getByRole('button').click();
    await expect(tempHeader).toHaveAttribute('aria-sort', 'descending');
    await expect(temps).toHaveText(['31', '14.5', '3.25', 'NaN']);

    // From the keyboard: the city header's button takes focus and Enter sorts by it.
    const cityHeader = preview.locator('thead th[data-column="city"]');
    await cityHeader.getByRole('button').focus();
    await page.keyboard.press('Enter');
    await expect(cityHeader).toHaveAttribute('aria-sort', 'ascending');
    await expect(tempHeader).toHaveAttribute('aria-sort', 'none');
    await expect(cities).toHaveText(['Agra', 'Lyon', 'Oslo', 'Oslo']);
    await preview.scrollIntoViewIfNeeded();
    await cellflow.screenshot('data-preview');

    // Hiding and showing again reuses the loaded code: nothing more is fetched.
    const fetched = chunks.length;
    await task.getByRole('button', { name: 'Hide data preview' }).click();
    await expect(preview).toHaveCount(0);
    await toggle.click();
    await expect(preview.locator('[data-stat="top"] dd').first()).toBeVisible();
    expect(chunks.length).toBe(fetched);
  });
});
