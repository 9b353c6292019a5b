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
    await cellflow.deployAndRun(2);
    const rows = cellflow.panel.locator('.jp-CellflowRuns-table tr[data-run]');

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
    await expect(dashboard.locator('.jp-CellflowRunPage h3')).toContainText(
      newest!.slice(0, 8)
    );
    await cellflow.screenshot('dashboard-light');

    // A run of the panel's last few opens here too: the older run, now selected in the grid.
    const older = await rows.nth(1).getAttribute('data-run');
    await rows.nth(1).click();
    await expect(dashboard.locator('.jp-CellflowRunPage h3')).toContainText(
      older!.slice(0, 8)
    );
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
      page.locator('#cellflow-runs .jp-CellflowRunPage h3')
    ).toContainText(selected!.slice(0, 8), { timeout: 30000 });
    await expect(
      page.locator('#cellflow-runs rect.jp-CellflowGantt-bar')
    ).toHaveCount(3);
  });

  test('a chip opens its run on that task: logs with line breaks and colours, search, and only the actions its state allows', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    // `check` fails the first time it runs (no flag file yet) and passes on a retry.
    const flag = `first-run-${Date.now()}`;
    await cellflow.openNotebook(
      `${tmpPath}/dashboard_run.ipynb`,
      notebook([
        codeCell('pause = 0  # seconds greet waits', { tags: ['parameters'] }),
        codeCell(
          [
            '%%task greet',
            'import time',
            'time.sleep(pause)',
            'print("\\033[31mred line\\033[0m\\nsecond line")'
          ].join('\n')
        ),
        codeCell(
          [
            '%%task check',
            'import os',
            `if not os.path.exists("${flag}"):`,
            `    open("${flag}", "w").close()`,
            '    raise RuntimeError("the first run fails")',
            'print("checked")'
          ].join('\n')
        )
      ])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.deployAndRun(1, 'Failed');
    const failed = await cellflow.panel
      .locator('.jp-CellflowRuns-table tr[data-run]')
      .first()
      .getAttribute('data-run');
    await expect(cellflow.chipState(2)).toContainText('Failed');

    // The failed task's chip opens its run in the main area, on that task.
    await cellflow.chip(2).locator('.jp-CellflowChip-state').click();
    await expect(cellflow.runPage).toHaveAttribute('data-run', failed!);
    await expect(
      cellflow.runPage.locator('.jp-CellflowRunPage-task')
    ).toHaveCount(1);
    await expect(
      cellflow.runPage.locator('.jp-CellflowRunPage-task[data-task="check"]')
    ).toContainText('the first run fails');
    await expect(
      cellflow.runPage.locator('.jp-CellflowLogView select')
    ).toHaveValue('check');

    // Every task's logs: one row per line, the ANSI red shown in the theme's red, not as escapes.
    await cellflow.runsButton('Show every task');
    const greet = cellflow.runPage.locator(
      '.jp-CellflowLogView-row[data-task="greet"]'
    );
    await expect(greet).toHaveCount(2);
    await expect(greet.nth(0).locator('.ansi-red-fg')).toHaveText('red line');
    await expect(greet.nth(0)).not.toContainText('[31m');
    await expect(greet.nth(1)).toHaveText(/greet#1\s*second line/);
    await cellflow.runPage
      .getByRole('searchbox', { name: 'Search the logs' })
      .fill('SECOND');
    await expect(
      cellflow.runPage.locator('.jp-CellflowLogView-row')
    ).toHaveCount(1);
    await cellflow.screenshot('dashboard-run');

    // A failed run can be retried, not cancelled; the retry opens and completes.
    await expect(
      cellflow.runPage.getByRole('button', { name: 'Cancel' })
    ).toHaveCount(0);
    await cellflow.runsButton('Retry from failed');
    await expect(cellflow.runPage).not.toHaveAttribute('data-run', failed!);
    await expect(
      cellflow.runPage.locator('.jp-CellflowRunPage-facts')
    ).toContainText(`retry (of run ${failed!.slice(0, 8)})`);
    await expect(
      cellflow.runPage.locator('h3 .jp-CellflowRunState')
    ).toHaveText('Completed', { timeout: 60000 });
    await expect(
      cellflow.runPage.locator('.jp-CellflowActions-buttons button')
    ).toHaveCount(0);

    // A running run can be cancelled, then retried.
    await cellflow.panel.locator('[data-parameter="pause"] input').fill('60');
    await cellflow.panelButton('Run now');
    const running = cellflow
      .historyRows('Past runs')
      .and(page.locator('[data-state="Running"]'));
    await running.first().click({ timeout: 60000 });
    await expect(
      cellflow.runPage.getByRole('button', { name: 'Retry from failed' })
    ).toHaveCount(0);
    await cellflow.runsButton('Cancel');
    await expect(
      cellflow.runPage.locator('h3 .jp-CellflowRunState')
    ).toHaveText('Cancelled', { timeout: 30000 });
    await expect(
      cellflow.runPage.getByRole('button', { name: 'Retry from failed' })
    ).toBeVisible();
    await expect(
      cellflow.runPage.getByRole('button', { name: 'Cancel' })
    ).toHaveCount(0);

    // A notification's link (`/lab?cellflow-run=<id>`) opens that run once the lab is loaded.
    await page.evaluate(
      id => window.location.assign(`/lab?cellflow-run=${id}`),
      failed!
    );
    await expect(
      page.locator(`#cellflow-runs .jp-CellflowRunPage[data-run="${failed}"]`)
    ).toBeVisible({ timeout: 30000 });
  });

  test('the history puts planned runs apart and filters past ones; the flows list shows each flow at a glance', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/dashboard_history.ipynb`,
      notebook([codeCell('%%task tick\nprint("tick")')])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.deployAndRun(1);
    await cellflow.addIntervalSchedule('10s');
    const schedule = cellflow.panel.locator('.jp-CellflowSchedule');
    await expect(
      schedule.locator('.jp-CellflowSchedule-description')
    ).toHaveText('every 10 seconds');

    await cellflow.panelButton('Open runs');
    const upcoming = cellflow.historyRows('Upcoming runs');
    await expect(upcoming.first()).toHaveAttribute('data-state', 'Scheduled');
    const past = cellflow.historyRows('Past runs');
    // A scheduled run comes to pass: it leaves the planned runs and lists among the past ones.
    const ranOnTime = past
      .and(page.locator('[data-state="Completed"]'))
      .filter({
        hasText: 'scheduled'
      });
    await expect(ranOnTime.first()).toBeVisible({ timeout: 40000 });
    for (const row of await upcoming.all()) {
      await expect(row).toHaveAttribute('data-state', 'Scheduled');
    }

    await cellflow.filterHistory('Trigger', 'manual');
    await expect(past).toHaveCount(1);
    await expect(past.first()).toContainText('manual');
    await cellflow.filterHistory('Trigger', 'scheduled');
    await expect(past.filter({ hasText: 'manual' })).toHaveCount(0);
    await cellflow.filterHistory('State', 'Failed');
    await expect(cellflow.runsView).toContainText('No runs match.');
    await cellflow.filterHistory('State', '');
    await cellflow.filterHistory('When', '1h');
    await expect(past.first()).toBeVisible();

    // The workspace's flows: this one with its schedule, the state of its last run, its next run.
    const flowId = await cellflow.runsView
      .locator('select[aria-label="Flow"]')
      .inputValue();
    await cellflow.runsButton('All flows');
    const flowRow = cellflow.runsView.locator(
      `.jp-CellflowFlows tr[data-flow="${flowId}"]`
    );
    await expect(flowRow).toContainText('every 10 seconds');
    await expect(flowRow.locator('.jp-CellflowRunState')).toHaveText(
      /Completed|Running|Pending/
    );
    await page.theme.setDarkTheme();
    await cellflow.screenshot('dashboard-flows-dark');
    await page.theme.setLightTheme();
    await flowRow.locator('.jp-CellflowFlows-open').click();
    await expect(cellflow.runsView.locator('.jp-CellflowGrid')).toBeVisible();
    // The flow's chart, grid and history in the dark theme.
    await page.theme.setDarkTheme();
    await expect(cellflow.historyRows('Past runs').first()).toBeVisible();
    await cellflow.screenshot('dashboard-dark');
    await page.theme.setLightTheme();

    // Paused again, so the rest of the suite's server is not kept busy.
    await cellflow.openPanelFromSidebar();
    await schedule.getByRole('button', { name: 'Pause' }).click();
    await expect(
      schedule.locator('.jp-CellflowSchedule-description')
    ).toContainText('paused');
  });
});
