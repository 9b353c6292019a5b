import { expect, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

import { CellflowPage } from './helpers/cellflow-page';
import { codeCell, notebook } from './helpers/notebooks';

/** Issue 18, flaw 10: the panel's and the chips' details, each walked as the user meets it. */
test.describe('Details of the panel and the chips (issue 18, flaw 10)', () => {
  test.use({ kernels: null });

  test('"Runs after" offers no task downstream of the selected one, and each box lines up with its name', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    // extract → transform → load, report after extract, audit on its own.
    await cellflow.openNotebook(
      `${tmpPath}/runs_after.ipynb`,
      notebook([
        codeCell('%%task extract\nrows = [1, 2, 3]'),
        codeCell('%%task transform\nrows = [r * 2 for r in rows]'),
        codeCell('%%task load\nprint(rows)'),
        codeCell('%%task report --after extract\nprint(len(rows))'),
        codeCell('%%task audit --after=\nprint("audit")')
      ])
    );
    await cellflow.openPanelFromSidebar();

    // extract runs first: making it run after any task below it would be a cycle.
    await cellflow.selectTask(0);
    await expect(cellflow.runsAfter).toHaveText(['audit']);

    // load may run after every task above it, and after the independent ones.
    await cellflow.selectTask(2);
    await expect(cellflow.runsAfter).toHaveText([
      'extract',
      'transform',
      'report',
      'audit'
    ]);
    const layout = await cellflow.runsAfterLayout();
    for (const row of layout) {
      expect(row.left, 'every box starts the same column').toBe(layout[0].left);
      expect(row.width, 'a box, not a full-width field').toBeLessThan(24);
      expect(row.gap, 'the name right beside its box').toBeLessThan(12);
      expect(row.offset, 'the name on the box’s line').toBeLessThan(4);
    }
  });

  test('a long problem’s bullet sits on its first line, its text wrapped in the panel', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    const name = 'a_task_name_long_enough_to_wrap_in_the_side_panel';
    await cellflow.openNotebook(
      `${tmpPath}/problems.ipynb`,
      notebook([
        codeCell(`%%task ${name}\nrows = [1, 2, 3]`),
        codeCell(`%%task ${name}\ntotal = sum(rows)`)
      ])
    );
    await cellflow.openPanelFromSidebar();
    await expect(cellflow.problems.first()).toContainText(name);
    const bullets = await cellflow.problemBulletLines();
    expect(bullets.length).toBeGreaterThan(0);
    for (const bullet of bullets) {
      expect(bullet.lines, 'the problem wraps').toBeGreaterThan(1);
      expect(bullet.line, 'the bullet is on the first line').toBe(0);
      expect(bullet.fits, 'a long task name wraps too').toBe(true);
    }
  });

  test('"Run here" in the notebook toolbar says what it does', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/run_here_label.ipynb`,
      notebook([codeCell('%%task hello\nprint("hello")')])
    );
    await expect(cellflow.runHereButton).toBeVisible();
    await expect(cellflow.runHereButton).toContainText('Run here');
    await expect(cellflow.runHereButton).toHaveAccessibleName('Run here');
    // And it does it.
    await cellflow.runHere();
    await expect(cellflow.chipState(0)).toContainText('Completed', {
      timeout: 60000
    });
  });

  test('a retry counts down to its next attempt on the chip', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/countdown.ipynb`,
      notebook([
        codeCell(
          [
            '%%task flaky --retries 1 --retry-delay 8',
            "tries = globals().get('tries', 0) + 1",
            'if tries == 1:',
            "    raise RuntimeError('flaky, try again')",
            'print("done")'
          ].join('\n')
        )
      ])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.deploy(1);
    await cellflow.panelButton('Run now');

    const countdown = /Retrying 1\/1 in (\d+) s/;
    await expect(cellflow.chipState(0)).toHaveText(countdown, {
      timeout: 60000
    });
    const first = Number(
      countdown.exec((await cellflow.chipState(0).textContent())!)![1]
    );
    expect(first).toBeLessThanOrEqual(8);
    // The seconds go down as the chip ticks, and on the panel's list of tasks too.
    const secondsLeft = async (state: Locator) =>
      Number(countdown.exec((await state.textContent()) ?? '')?.[1] ?? NaN);
    await expect
      .poll(() => secondsLeft(cellflow.chipState(0)))
      .toBeLessThan(first);
    const listed = cellflow.panelTaskState('flaky');
    await expect(listed).toHaveText(countdown);
    const shown = await secondsLeft(listed);
    await expect.poll(() => secondsLeft(listed)).toBeLessThan(shown);
    await expect(cellflow.chipState(0)).toContainText('Completed', {
      timeout: 60000
    });
  });

  test('a task skipped for its failed upstream task says Not run, live and after a reload', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    const path = `${tmpPath}/not_run.ipynb`;
    await cellflow.openNotebook(
      path,
      notebook([
        codeCell('%%task fetch\nraise ValueError("no data")'),
        codeCell('%%task publish\nprint("never")')
      ])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.deploy(1);
    await cellflow.panelButton('Run now');
    await expect(cellflow.chipState(0)).toContainText('Failed', {
      timeout: 60000
    });
    await expect(cellflow.chipState(1)).toHaveText('Not run');

    await cellflow.reloadAndReopen(path);
    await expect(cellflow.chipState(0)).toContainText('Failed', {
      timeout: 30000
    });
    await expect(cellflow.chipState(1)).toHaveText('Not run');
  });

  test('after `cellflow deploy` of a new version, the panel names that version', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    const content = notebook([codeCell('%%task hello\nprint("hello")')]);
    await cellflow.openNotebook(`${tmpPath}/cli_deployed.ipynb`, content);
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.deploy(1);
    await expect(cellflow.deployedVersion).toHaveText(
      'Deployed version 1, up to date.'
    );

    // Someone deploys a changed notebook from a terminal.
    const printed = CellflowPage.deployWithCli(
      'cli_deployed',
      notebook([codeCell('%%task hello\nprint("hello, version 2")')])
    );
    expect(printed).toContain('2');
    await expect(cellflow.deployedVersion).toContainText(
      'Deployed version 2; the notebook changed since.'
    );
  });

  test('schedule times move on as time passes, in the schedule’s zone with its name, and the history shows a clock icon', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/zoned_schedule.ipynb`,
      notebook([codeCell('%%task tick\nprint("tick")')])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.deploy(1);

    // The preview of a 10-second schedule in Tokyo: each time on Tokyo's clock, with the zone's name.
    await cellflow.openScheduleEditor();
    await cellflow.typeIntervalSchedule('10s', 'Asia/Tokyo');
    const preview = cellflow.scheduleForm.locator(
      '.jp-CellflowSchedulePreview-runs'
    );
    await expect(preview.locator('li')).toHaveCount(5);
    for (const item of await preview.locator('li').all()) {
      await expect(item).toContainText('+09:00 Asia/Tokyo');
    }
    // As the first time passes, the preview moves on: it never lists a past time.
    const [firstPreviewed] = await cellflow.listedTimes(preview);
    await expect
      .poll(async () => (await cellflow.listedTimes(preview))[0], {
        timeout: 20000
      })
      .toBeGreaterThan(firstPreviewed);
    for (const at of await cellflow.listedTimes(preview)) {
      expect(at).toBeGreaterThan(Date.now() - 1000);
    }

    // Saved, its next runs say their zone too, and move on as well.
    await cellflow.addScheduleFromEditor();
    const next = cellflow.panel.locator(
      '.jp-CellflowSchedule .jp-CellflowSchedule-next'
    );
    await expect(next.locator('li')).toHaveCount(1);
    await expect(next.locator('li').first()).toContainText('+09:00 Asia/Tokyo');
    const [firstNext] = await cellflow.listedTimes(next);
    await expect
      .poll(async () => (await cellflow.listedTimes(next))[0], {
        timeout: 20000
      })
      .toBeGreaterThan(firstNext);
    for (const at of await cellflow.listedTimes(next)) {
      expect(at).toBeGreaterThan(Date.now() - 1000);
    }

    // A scheduled run in the history: its scheduled time has a clock icon, not a glyph fonts lack.
    const scheduled = cellflow.panelRunRows
      .filter({ hasText: 'scheduled' })
      .first();
    await expect(scheduled).toBeVisible({ timeout: 30000 });
    const when = scheduled.locator('[title="scheduled"]');
    await expect(when.locator('svg')).toBeVisible();
    const icon = await when.locator('svg').boundingBox();
    expect(icon!.width).toBeGreaterThan(8);
    await expect(scheduled).not.toContainText('⏲');

    // Stop the schedule: later tests run on a quiet server.
    await cellflow.panel
      .locator('.jp-CellflowSchedule')
      .getByRole('button', { name: 'Pause' })
      .click();
    await expect(
      cellflow.panel.locator('.jp-CellflowSchedule-description')
    ).toContainText('paused');
  });
});
