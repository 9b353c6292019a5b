import { expect, test } from '@jupyterlab/galata';

import { CellflowPage } from './helpers/cellflow-page';
import { codeCell, notebook } from './helpers/notebooks';

/** Two tasks; `flaky` fails its first attempt in each kernel, then passes on its retry. */
function twoTasks() {
  return notebook([
    codeCell(
      '%%task extract\nimport time\ntime.sleep(0.3)\nprint("extracted")'
    ),
    codeCell(
      [
        '%%task flaky --retries 1 --retry-delay 0',
        "tries = globals().get('tries', 0) + 1",
        'if tries == 1:',
        "    raise RuntimeError('first try fails')",
        'print("passed on try", tries)'
      ].join('\n')
    )
  ]);
}

test.describe('Cellflow runs, in the main area', () => {
  test.use({ kernels: null });

  test('"Open runs" shows the grid of tasks by run, a cell opens the run’s Gantt strip, and a reload restores the view', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(`${tmpPath}/dashboard.ipynb`, twoTasks());
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.panelButton('Deploy');
    await expect(
      cellflow.panel.locator('.jp-CellflowActions-version')
    ).toContainText('Deployed version');
    const rows = cellflow.panel.locator('.jp-CellflowRuns-table tr[data-run]');
    for (const count of [1, 2]) {
      await cellflow.panelButton('Run now');
      await expect(rows).toHaveCount(count);
      await expect(rows.first()).toHaveAttribute('data-state', 'Completed', {
        timeout: 60000
      });
    }

    await cellflow.panelButton('Open runs');
    const dashboard = page.locator('#cellflow-runs');
    await expect(dashboard).toBeVisible();
    // Tasks as rows, runs as columns: 2 × 2 cells, all Completed; the retried task shows its 2 attempts.
    const grid = dashboard.locator('.jp-CellflowGrid');
    await expect(grid.locator('tbody tr')).toHaveCount(2);
    await expect(grid.locator('tbody tr').first()).toHaveAttribute(
      'data-task',
      'extract'
    );
    const cells = grid.locator('.jp-CellflowGrid-cell');
    await expect(cells).toHaveCount(4);
    for (const cell of await cells.all()) {
      await expect(cell).toHaveAttribute('data-state', 'Completed');
    }
    const flaky = grid.locator('tr[data-task="flaky"] .jp-CellflowGrid-cell');
    await expect(flaky.first()).toHaveText('2');
    await expect(flaky.first()).toHaveAttribute('title', /2 attempts/);

    // A click opens that run: its attempts on a time axis, the retried task's two in a row.
    await flaky.last().click();
    const gantt = dashboard.locator('.jp-CellflowGantt');
    await expect(gantt.locator('rect.jp-CellflowGantt-bar')).toHaveCount(3);
    await expect(
      gantt.locator('rect[data-task="flaky"][data-attempt="1"]')
    ).toHaveAttribute('data-state', 'Failed');
    await expect(
      gantt.locator('rect[data-task="flaky"][data-attempt="2"]')
    ).toHaveAttribute('data-state', 'Completed');
    const newest = await flaky.last().getAttribute('data-run');
    await expect(
      dashboard.locator('.jp-CellflowDashboard-run h3')
    ).toContainText(newest!.slice(0, 8));
    await cellflow.screenshot('dashboard-light');

    // The panel's run view opens its run here too: the older run, now selected in the grid.
    const older = await rows.nth(1).getAttribute('data-run');
    await rows.nth(1).click();
    await cellflow.panelButton('Open in Cellflow runs');
    await expect(
      dashboard.locator('.jp-CellflowDashboard-run h3')
    ).toContainText(older!.slice(0, 8));
    await expect(
      grid.locator(`.jp-CellflowGrid-cell.jp-mod-selected[data-run="${older}"]`)
    ).toHaveCount(2);
    const selected = older;

    // A reload reopens the view on the same flow and run: once the workspace holds the view and its
    // selection (the lab writes it debounced), the lab is loaded again at /lab, not at the /lab/tree/…
    // URL galata opened (a tree URL opens its path instead of the saved layout), and without galata's
    // wait for a Launcher tab, which a restored layout does not have.
    await expect
      .poll(async () =>
        page.evaluate(async () => {
          const answer = await fetch('/lab/api/workspaces/default');
          const data = (await answer.json()).data ?? {};
          return data['cellflow-runs:cellflow-runs']?.data?.runId ?? null;
        })
      )
      .toBe(selected);
    await page.evaluate(() => window.location.assign('/lab'));
    await expect(page.locator('#cellflow-runs')).toBeVisible({
      timeout: 30000
    });
    await expect(
      page.locator('#cellflow-runs .jp-CellflowDashboard-run h3')
    ).toContainText(selected!.slice(0, 8), { timeout: 30000 });
    await expect(
      page.locator('#cellflow-runs rect.jp-CellflowGantt-bar')
    ).toHaveCount(3);
  });
});
