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
    await cellflow.ensureLoggedOut();
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

  test('Deploy looks disabled while logged out, and enabled once logged in', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(`${tmpPath}/look.ipynb`, etlLike());
    await cellflow.openPanelFromSidebar();
    await cellflow.ensureLoggedOut();
    const off = await cellflow.buttonLook('Deploy');
    expect(off.disabled).toBe(true);
    expect(off.cursor).toBe('not-allowed');

    await cellflow.loginToTestServer();
    await expect
      .poll(async () => (await cellflow.buttonLook('Deploy')).disabled)
      .toBe(false);
    const on = await cellflow.buttonLook('Deploy');
    expect(on.cursor).not.toBe('not-allowed');
    expect(on.background, 'a disabled button has its own colour').not.toBe(
      off.background
    );
  });

  test('a new cell with a task name already used shows its problem, not the other cell’s Completed, and the panel says the notebook changed', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/duplicate.ipynb`,
      notebook([codeCell('%%task extract\nrows = [1, 2, 3]')])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.panelButton('Deploy');
    const version = cellflow.panel.locator('.jp-CellflowActions-version');
    await expect(version).toContainText('Deployed version 1, up to date.');
    await cellflow.runHere();
    await expect(cellflow.chipState(0)).toContainText('Completed', {
      timeout: 60000
    });

    await page.notebook.addCell('code', '%%task extract\ntotal = sum(rows)');
    await expect(
      cellflow.chip(1).locator('.jp-CellflowChip-problems')
    ).toContainText('extract');
    await expect(cellflow.chipState(1)).not.toContainText('Completed');
    await expect(version).toContainText(
      'the notebook changed since and has problems to fix'
    );
  });

  test('a failed run stays in sight on the chip while the next run goes, until that run ends the task', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/last_failed.ipynb`,
      notebook([
        codeCell('mode = "fail"', { tags: ['parameters'] }),
        codeCell(
          '%%task check\nimport time\nif mode == "fail":\n    raise ValueError("boom")\ntime.sleep(4)\nprint("ok")'
        )
      ])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.panelButton('Deploy');
    await expect(
      cellflow.panel.locator('.jp-CellflowActions-version')
    ).toContainText('up to date');

    await cellflow.panelButton('Run now');
    await expect(cellflow.chipState(1)).toContainText(
      'Failed: ValueError: boom',
      { timeout: 60000 }
    );
    // The next run (a schedule's, or this one) takes the chip: the failure stays beside it.
    await cellflow.panel.locator('[data-parameter="mode"] input').fill('sleep');
    await cellflow.panelButton('Run now');
    await expect(cellflow.chipState(1)).toContainText('Running', {
      timeout: 60000
    });
    await expect(
      cellflow.chip(1).locator('.jp-CellflowChip-previous')
    ).toHaveText('last run Failed: ValueError: boom');
    await expect(cellflow.chipState(1)).toContainText('Completed', {
      timeout: 60000
    });
    await expect(
      cellflow.chip(1).locator('.jp-CellflowChip-previous')
    ).toBeEmpty();
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
    await expect(
      page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CellflowRunState')
    ).toHaveText('Flow: Completed');

    // The history lists the run; its view shows the logs and the DataFrame rendered as a table.
    const row = cellflow.panel
      .locator('.jp-CellflowRuns-table tr[data-run]')
      .first();
    await expect(row).toHaveAttribute('data-state', 'Completed');
    await expect(row).toContainText('rows: 4');
    // It opens in Cellflow runs: one log row per line, each with its task and attempt, and the
    // DataFrame rendered as a table.
    await row.click();
    const logRows = cellflow.runPage.locator('.jp-CellflowLogView-row');
    await expect(logRows.first()).toHaveText(/^extract#1\s*hello 4$/);
    await expect(logRows.last()).toHaveText(/^load#1\s*loaded 14$/);
    await expect(
      cellflow.runPage.locator(
        '.jp-CellflowRunPage-task[data-task="transform"] table'
      )
    ).toContainText('square');
    await cellflow.screenshot('panel-light');
  });

  test('a task that always fails ends Failed with its error line on the chip; a long task is cancelled', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/panel_fail.ipynb`,
      notebook([
        codeCell(
          '%%task fetch --retries 1\nraise ValueError("no data from the API")'
        ),
        codeCell('%%task after_fetch\nprint("never")')
      ])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.panelButton('Deploy');
    await expect(
      cellflow.panel.locator('.jp-CellflowActions-version')
    ).toContainText('Deployed version');
    await cellflow.panelButton('Run now');
    await expect(cellflow.chipState(0)).toContainText(
      'Failed: ValueError: no data from the API',
      {
        timeout: 60000
      }
    );
    await expect(cellflow.chip(0)).toHaveAttribute('data-state', 'Failed');
    await expect(
      cellflow.panel.locator('.jp-CellflowRuns-table tr[data-run]').first()
    ).toHaveAttribute('data-state', 'Failed');

    // A long task: cancel it from its run in Cellflow runs.
    await page.notebook.setCell(
      0,
      'code',
      '%%task fetch\nimport time\ntime.sleep(120)'
    );
    await expect(
      cellflow.chip(0).locator('.jp-CellflowChip-settings')
    ).toHaveText('');
    await cellflow.panelButton('Deploy');
    await expect(
      cellflow.panel.locator('.jp-CellflowActions-version')
    ).toContainText('Deployed version 2, up to date.');
    await cellflow.panelButton('Run now');
    await expect(cellflow.chipState(0)).toContainText('Running', {
      timeout: 60000
    });
    await cellflow.panel
      .locator('.jp-CellflowRuns-table tr[data-run]')
      .first()
      .click();
    await cellflow.runsButton('Cancel');
    await expect(cellflow.chipState(0)).toContainText('Cancelled', {
      timeout: 30000
    });
    await expect(
      cellflow.panel.locator('.jp-CellflowRuns-table tr[data-run]').first()
    ).toHaveAttribute('data-state', 'Cancelled');
  });

  test('a run of a pool no worker serves stays Pending, and its run view says what it waits for', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/gpu_training.ipynb`,
      notebook([codeCell('%%task train\nprint("trained")')])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.panelButton('Deploy');
    await expect(
      cellflow.panel.locator('.jp-CellflowActions-version')
    ).toContainText('Deployed version');
    await cellflow.setFlowPool('gpu_training', 'gpu');
    await cellflow.panelButton('Run now');
    const row = cellflow.panel
      .locator('.jp-CellflowRuns-table tr[data-run]')
      .first();
    await expect(row).toHaveAttribute('data-state', 'Pending');
    await row.click();
    await expect(
      cellflow.runPage.locator('.jp-CellflowRunPage-waiting')
    ).toHaveText('Waiting for a worker of pool gpu');
    // It can still be cancelled while it waits.
    await cellflow.runsButton('Cancel');
    await expect(row).toHaveAttribute('data-state', 'Cancelled');
  });

  test('opening one run after another, and logging out while a run shows, keep the runs with no error (issue 18, flaw 1)', async ({
    page,
    tmpPath
  }) => {
    const errors: string[] = [];
    page.on('pageerror', error => errors.push(error.message));
    page.on('console', message => {
      if (message.type() === 'error' && /not attached/i.test(message.text())) {
        errors.push(message.text());
      }
    });
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/two_runs.ipynb`,
      notebook([codeCell('%%task hello\nprint("hello from the run")')])
    );
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
    // Each run opens in Cellflow runs, its outputs rendered; the next one replaces them.
    const output = cellflow.runPage.locator('.jp-CellflowOutput');
    for (const index of [1, 0]) {
      const id = await rows.nth(index).getAttribute('data-run');
      await rows.nth(index).click();
      await expect(cellflow.runPage).toHaveAttribute('data-run', id!);
      await expect(output.first()).toContainText('hello from the run');
    }
    // Logging out removes the shown run's outputs; logging in shows them again.
    await cellflow.ensureLoggedOut();
    await expect(output).toHaveCount(0);
    await cellflow.loginToTestServer();
    await expect(rows.first()).toBeVisible();
    await expect(output.first()).toContainText('hello from the run');
    expect(errors).toEqual([]);
  });

  test('the panel reads well in the dark theme', async ({ page, tmpPath }) => {
    const cellflow = new CellflowPage(page);
    await page.theme.setDarkTheme();
    await cellflow.openNotebook(`${tmpPath}/panel_dark.ipynb`, etlLike());
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.chip(3).click();
    await expect(
      cellflow.panel.locator('.jp-CellflowTaskSettings')
    ).toBeVisible();
    // Text on the panel uses the theme's colours (light text on a dark background).
    const colours = await cellflow.panel.evaluate(node => {
      const style = getComputedStyle(node);
      return { color: style.color, background: style.backgroundColor };
    });
    const luminance = (rgb: string) => {
      const [r, g, b] = rgb.match(/\d+/g)!.map(Number);
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    expect(luminance(colours.color)).toBeGreaterThan(
      luminance(colours.background)
    );
    await cellflow.screenshot('panel-dark');
    await page.theme.setLightTheme();
  });

  test('a 10-second schedule: its preview lists the next runs, and scheduled runs complete', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/panel_scheduled.ipynb`,
      notebook([
        codeCell('who = "world"  # whom to greet', { tags: ['parameters'] }),
        codeCell('%%task tick\nprint("hello", who)')
      ])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.panelButton('Deploy');
    await expect(
      cellflow.panel.locator('.jp-CellflowActions-version')
    ).toContainText('Deployed version');

    // The schedule editor opens in a dialog, with room for its preview.
    const form = await cellflow.openScheduleEditor();
    await cellflow.screenshot('schedule-editor');
    // A bad cron is refused as typed, naming the field; nothing can be added.
    await form.locator('select[name="kind"]').selectOption('cron');
    await form.locator('input[name="expression"]').fill('61 * * * *');
    await expect(form.locator('.jp-CellflowError')).toContainText(
      "minute field '61'"
    );
    await expect(
      form.getByRole('button', { name: 'Add schedule' })
    ).toBeDisabled();

    await form.locator('select[name="kind"]').selectOption('interval');
    await form.locator('input[name="every"]').fill('10s');
    await expect(
      form.locator('.jp-CellflowSchedulePreview-description')
    ).toHaveText('every 10 seconds');
    await expect(
      form.locator('.jp-CellflowSchedulePreview-runs li')
    ).toHaveCount(5);
    // The schedule's runs get parameter values of their own, checked against the flow's parameters.
    const values = form.locator('textarea[name="parameters"]');
    await values.fill('{"whom": "x"}');
    await expect(form.locator('.jp-CellflowError')).toContainText('whom');
    await expect(
      form.getByRole('button', { name: 'Add schedule' })
    ).toBeDisabled();
    await values.fill('{"who": "cellflow"}');
    await cellflow.addScheduleFromEditor();
    // In the panel, the schedule is one line: what, its next run, and its actions.
    const schedule = cellflow.panel.locator('.jp-CellflowSchedule');
    await expect(
      schedule.locator('.jp-CellflowSchedule-description')
    ).toHaveText('every 10 seconds');
    await expect(schedule.locator('.jp-CellflowSchedule-next li')).toHaveCount(
      1
    );
    await cellflow.screenshot('panel-schedule');

    // The scheduler starts a run on time; its task completes on the chip.
    const scheduled = cellflow.panel.locator(
      '.jp-CellflowRuns-table tr[data-run]',
      {
        hasText: 'scheduled'
      }
    );
    await expect(scheduled.first()).toBeVisible({ timeout: 30000 });
    await expect(scheduled.first()).toContainText('who: cellflow');
    await expect(cellflow.chipState(1)).toContainText('Completed', {
      timeout: 30000
    });
    // A run made ahead by the schedule shows its start and its duration as it goes, from its events
    // alone (issue 18, flaw 4), and an ended run's duration stays put while the panel redraws.
    const completed = cellflow.panel.locator(
      '.jp-CellflowRuns-table tr[data-run][data-state="Completed"]',
      { hasText: 'scheduled' }
    );
    const done = completed.first();
    await expect(done.locator('[title="started"]')).toBeVisible();
    const runId = await done.getAttribute('data-run');
    const duration = cellflow.panel.locator(
      `tr[data-run="${runId}"] [title="duration"]`
    );
    const ended = await duration.textContent();
    // The next scheduled run's events redraw the history; the ended run's duration is the same after.
    const before = await completed.count();
    await expect
      .poll(() => completed.count(), { timeout: 30000 })
      .toBeGreaterThan(before);
    await expect(duration).toHaveText(ended!);

    // Pausing stops new runs, and its planned runs leave the history and the chips (issue 18, flaw 5).
    await schedule.getByRole('button', { name: 'Pause' }).click();
    await expect(
      schedule.locator('.jp-CellflowSchedule-description')
    ).toContainText('paused');
    await expect(cellflow.panel.locator('.jp-CellflowRuns-next')).toHaveCount(
      0
    );
    await expect(cellflow.chipState(1)).not.toContainText('Scheduled');

    // Delete asks first: cancelled, the schedule stays; confirmed, it is gone.
    const confirm = page.locator('.jp-Dialog');
    await schedule.getByRole('button', { name: 'Delete' }).click();
    await expect(confirm).toContainText('Delete the schedule?');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await expect(schedule).toHaveCount(1);
    await schedule.getByRole('button', { name: 'Delete' }).click();
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await expect(schedule).toHaveCount(0);
    await expect(cellflow.panel).toContainText('No schedule yet.');
  });

  test('a key revoked mid-session asks to log in again, keeping the server URL', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/panel_revoked.ipynb`,
      notebook([codeCell('%%task only\nprint(1)')])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.ensureLoggedOut();
    const { url } = CellflowPage.server();
    const temporary = CellflowPage.createKey('about-to-be-revoked');
    await cellflow.login(url, temporary.key);
    await expect(
      cellflow.panel.locator('.jp-CellflowConnection-status')
    ).toContainText('key “about-to-be-revoked”');

    CellflowPage.revokeKey(temporary.id);
    await cellflow.panelButton('Deploy');
    await expect(
      cellflow.panel.locator('.jp-CellflowError').first()
    ).toContainText('revoked API key');
    await expect(
      cellflow.panel.locator('.jp-CellflowConnection-form input[name="url"]')
    ).toHaveValue(url);
  });
});
