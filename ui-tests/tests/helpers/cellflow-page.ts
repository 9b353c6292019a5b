import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import { expect, Locator } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** The `cellflow` command of this checkout. */
const CELLFLOW_BIN = path.resolve(
  __dirname,
  '..',
  '..',
  '..',
  'server',
  'bin',
  'cellflow.js'
);

/** Run the `cellflow` CLI against the test server's data directory. */
function cellflowCli(args: string[]): string {
  return execFileSync(
    process.execPath,
    [CELLFLOW_BIN, ...args, '--data-dir', process.env.CELLFLOW_TEST_DATA_DIR!],
    { encoding: 'utf8' }
  );
}

/** Where screenshots are kept as test artifacts. */
export const ARTIFACTS = path.resolve(__dirname, '..', '..', 'artifacts');

/**
 * A user's view of Cellflow in the lab: each method is one step a person takes,
 * so tests read as the story of what the user does and sees.
 */
export class CellflowPage {
  constructor(readonly page: IJupyterLabPageFixture) {}

  /** The Cellflow side panel (its id is stable: PANEL_ID in src/tokens.ts). */
  get panel(): Locator {
    return this.page.locator('#cellflow-panel');
  }

  /** Open the panel by clicking its tab in the left sidebar, as a user would. */
  async openPanelFromSidebar(): Promise<void> {
    await this.page.sidebar.openTab('cellflow-panel');
    await expect(this.panel).toBeVisible();
  }

  /** Open the panel through the command palette. */
  async openPanelFromPalette(): Promise<void> {
    await this.page.keyboard.press('Control+Shift+C');
    const palette = this.page.locator('#command-palette');
    await expect(palette).toBeVisible();
    await palette.locator('input').fill('Open the Cellflow Panel');
    await palette
      .locator('.lm-CommandPalette-item', {
        hasText: 'Open the Cellflow Panel'
      })
      .click();
    await expect(this.panel).toBeVisible();
  }

  /** The chip of the task cell at `index` (the cell's position in the notebook). */
  chip(index: number): Locator {
    return this.page
      .locator('.jp-Notebook .jp-Cell')
      .nth(index)
      .locator('.jp-CellflowChip');
  }

  /** Click the Cellflow button in the active cell's toolbar and accept the proposed name (or type one). */
  async makeActiveCellATask(name?: string): Promise<void> {
    const button = this.page.locator(
      '.jp-Notebook .jp-Cell.jp-mod-active .jp-cell-toolbar [data-command="cellflow:toggle-task"]'
    );
    await button.click();
    const dialog = this.page.locator('.jp-Dialog');
    await expect(dialog).toBeVisible();
    if (name !== undefined) {
      await dialog.locator('input').fill(name);
    }
    await dialog.locator('.jp-mod-accept').click();
    await expect(dialog).toBeHidden();
  }

  /** Put a notebook on the lab's disk and open it. */
  async openNotebook(path: string, content: unknown): Promise<void> {
    await this.page.contents.uploadContent(
      JSON.stringify(content),
      'text',
      path
    );
    await this.page.notebook.openByPath(path);
    await this.page.notebook.activate(path.split('/').pop()!);
    await expect(
      this.page.locator('.jp-Notebook .jp-Cell').first()
    ).toBeVisible();
    await this.waitForKernelIdle();
  }

  async waitForKernelIdle(): Promise<void> {
    await expect(
      this.page.locator(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status="idle"]'
      )
    ).toHaveCount(1, { timeout: 60000 });
  }

  /** "Run here" in the active notebook's toolbar. */
  get runHereButton(): Locator {
    return this.page.locator(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar [data-command="cellflow:run-here"]'
    );
  }

  /** Click "Run here" in the notebook's toolbar. */
  async runHere(): Promise<void> {
    await this.runHereButton.click();
  }

  /** The .ipynb as the lab's server has it on disk. */
  async notebookOnDisk(path: string): Promise<any> {
    const response = await this.page.request.get(
      `/api/contents/${path}?content=1&type=notebook`
    );
    expect(response.ok()).toBeTruthy();
    return (await response.json()).content;
  }

  /**
   * Keep a screenshot in ui-tests/artifacts/ (Playwright drops the outputs of passing tests):
   * the README and reviewers look at these.
   */
  async screenshot(name: string): Promise<string> {
    const path = `${ARTIFACTS}/${name}.png`;
    await this.page.screenshot({ path });
    return path;
  }

  /** The test Cellflow server's URL and an API key of its `ui-tests` workspace (global-setup.js). */
  static server(): { url: string; key: string } {
    const keys = JSON.parse(
      fs.readFileSync(
        path.join(process.env.CELLFLOW_TEST_DATA_DIR!, '..', 'keys.json'),
        'utf8'
      )
    );
    return { url: process.env.CELLFLOW_TEST_SERVER_URL!, key: keys.main };
  }

  /**
   * Set a deployed flow's work pool through the server's API, as an operator would with
   * `cellflow deploy --pool`: no worker serves a new pool, so its runs wait Pending.
   */
  async setFlowPool(flowName: string, pool: string): Promise<void> {
    const { url, key } = CellflowPage.server();
    const headers = { authorization: `Bearer ${key}` };
    const listed = await this.page.request.get(`${url}/api/flows`, { headers });
    expect(listed.ok()).toBeTruthy();
    const flow = (
      (await listed.json()).flows as { id: string; name: string }[]
    ).find(f => f.name === flowName);
    expect(flow).toBeTruthy();
    const changed = await this.page.request.patch(
      `${url}/api/flows/${flow!.id}/settings`,
      { headers, data: { pool } }
    );
    expect(changed.ok()).toBeTruthy();
  }

  /** Create another key of the test workspace, as an operator would (through the admin socket). */
  static createKey(name: string): { key: string; id: string } {
    const out = cellflowCli([
      'keys',
      'create',
      '--workspace',
      'ui-tests',
      '--name',
      name
    ]);
    const key = out.trim().split('\n').pop()!;
    const listed = cellflowCli(['keys', 'list', '--workspace', 'ui-tests']);
    const row = listed
      .split('\n')
      .find(line => line.includes(key.slice(0, 8)))!;
    return { key, id: row.split(/\s+/)[0] };
  }

  static revokeKey(id: string): void {
    cellflowCli(['keys', 'revoke', id, '--workspace', 'ui-tests']);
  }

  /** How a panel button looks: whether it is disabled, its background colour and its cursor. */
  async buttonLook(
    name: string
  ): Promise<{ disabled: boolean; background: string; cursor: string }> {
    const button = this.panel.getByRole('button', { name, exact: true });
    return button.evaluate((element: HTMLButtonElement) => {
      const style = getComputedStyle(element);
      return {
        disabled: element.disabled,
        background: style.backgroundColor,
        cursor: style.cursor
      };
    });
  }

  /** Fill the panel's login form and submit it. */
  async login(url: string, key: string): Promise<void> {
    const form = this.panel.locator('.jp-CellflowConnection-form');
    await form.locator('input[name="url"]').fill(url);
    await form.locator('input[name="key"]').fill(key);
    await form.locator('button[type="submit"]').click();
  }

  /** Wait until the panel knows whether it is logged in; true when it is. */
  async isLoggedIn(): Promise<boolean> {
    const form = this.panel.locator('.jp-CellflowConnection-form');
    const who = this.panel.locator('.jp-CellflowConnection-who');
    await expect(form.or(who)).toBeVisible();
    return who.isVisible();
  }

  /** Log out when a previous test left the lab logged in, so the login form shows. */
  async ensureLoggedOut(): Promise<void> {
    if (await this.isLoggedIn()) {
      await this.panel.getByRole('button', { name: 'Log out' }).click();
    }
    await expect(
      this.panel.locator('.jp-CellflowConnection-form')
    ).toBeVisible();
  }

  /** Log in with the test server's key, and wait until the panel says who we are. */
  async loginToTestServer(): Promise<void> {
    if (!(await this.isLoggedIn())) {
      const { url, key } = CellflowPage.server();
      await this.login(url, key);
    }
    await expect(
      this.panel.locator('.jp-CellflowConnection-status')
    ).toContainText('Workspace ui-tests');
  }

  /**
   * Wait until the panel is on the lab's own local server (a lab without a profile starts one; a
   * first start makes its store, which takes a while).
   */
  async expectOnLocalServer(): Promise<void> {
    await expect(
      this.panel.locator('.jp-CellflowConnection-status')
    ).toContainText('on the local server', { timeout: 120000 });
  }

  /** Select the cell at `index` and make it a task named `name` with its toolbar button. */
  async makeCellATask(index: number, name: string): Promise<void> {
    await this.page.notebook.selectCells(index);
    await this.makeActiveCellATask(name);
    await expect(this.chip(index).locator('.jp-CellflowChip-name')).toHaveText(
      name
    );
  }

  /** Click a button of the panel by its text. */
  async panelButton(name: string): Promise<void> {
    await this.panel.getByRole('button', { name, exact: true }).click();
  }

  /** Ticks or clears the panel's "Refresh cache" option of Run now (shown when a task is cached). */
  async setRefreshCache(on: boolean): Promise<void> {
    await this.panel
      .getByRole('checkbox', { name: 'Refresh cache', exact: true })
      .setChecked(on);
  }

  /** The panel's Secrets section of the logged-in workspace (folded until opened). */
  get secrets(): Locator {
    return this.panel.locator('.jp-CellflowSecrets');
  }

  /** The row of a secret in the Secrets section. */
  secretRow(name: string): Locator {
    return this.secrets.locator(`.jp-CellflowSecret[data-secret="${name}"]`);
  }

  /** Unfold the Secrets section by clicking its title, unless it is open already. */
  async openSecrets(): Promise<void> {
    const form = this.secrets.locator('.jp-CellflowSecrets-form');
    if (!(await form.isVisible())) {
      await this.secrets.locator('summary').click();
    }
    await expect(form).toBeVisible();
  }

  /** Type a secret's name and value into the Secrets form and press its button (Add or Replace). */
  async addSecret(name: string, value: string): Promise<void> {
    await this.openSecrets();
    const form = this.secrets.locator('.jp-CellflowSecrets-form');
    await form.locator('input[name="secret-name"]').fill(name);
    await form.locator('input[name="secret-value"]').fill(value);
    await form.locator('button[type="submit"]').click();
  }

  /** Click a secret's Delete button; accept (or cancel) the confirmation dialog. */
  async deleteSecret(name: string, accept = true): Promise<void> {
    await this.secretRow(name).getByRole('button', { name: 'Delete' }).click();
    const dialog = this.page.locator('.jp-Dialog');
    await expect(dialog).toContainText(`Delete the secret ${name}?`);
    await dialog
      .getByRole('button', { name: accept ? 'Delete' : 'Cancel' })
      .click();
    await expect(dialog).toBeHidden();
  }

  /** The status text on the chip of the task cell at `index`. */
  chipState(index: number): Locator {
    return this.chip(index).locator('.jp-CellflowChip-state');
  }

  /** A mapped task's progress over its elements on its chip ("3/5 completed, 1 retrying"). */
  chipProgress(index: number): Locator {
    return this.chip(index).locator('.jp-CellflowChip-progress');
  }

  /** The row of a task (or of a mapped task's element, `fetch[2]`) in the grid of "Cellflow runs". */
  gridRow(task: string): Locator {
    return this.runsView.locator(
      `.jp-CellflowGrid tbody tr[data-task="${task}"]`
    );
  }

  /** Click a task's chip: the panel shows its settings. */
  async selectTask(index: number): Promise<void> {
    await this.chip(index).click();
    await expect(this.panel.locator('.jp-CellflowTaskSettings')).toBeVisible();
  }

  /** The selected task's "Runs after" choices, as their task names in order. */
  get runsAfter(): Locator {
    return this.panel.locator('.jp-CellflowTaskSettings-after label');
  }

  /**
   * Where each "Runs after" box sits against its task's name: the box's left edge and width, the
   * gap to the name, and how far the name's middle is from the box's middle.
   */
  async runsAfterLayout(): Promise<
    { left: number; width: number; gap: number; offset: number }[]
  > {
    return this.runsAfter.evaluateAll(labels =>
      labels.map(label => {
        const box = label.querySelector('input')!.getBoundingClientRect();
        const range = document.createRange();
        range.selectNodeContents(label);
        range.setStartAfter(label.querySelector('input')!);
        const text = range.getBoundingClientRect();
        return {
          left: box.left,
          width: box.width,
          gap: text.left - box.right,
          offset: Math.abs(
            text.top + text.height / 2 - (box.top + box.height / 2)
          )
        };
      })
    );
  }

  /** The panel's list of the flow's problems (shown while the notebook has some). */
  get problems(): Locator {
    return this.panel.locator('.jp-CellflowFlow-problems li');
  }

  /**
   * For each problem of the list: which line of its (wrapped) text its bullet sits on, 0 for the
   * first, how many lines the text has, and whether it fits in the panel's width. The bullet sits on the baseline of the item's first line
   * box; a zero-size probe at the start of the item marks that baseline (kept on the button's line:
   * the item does not wrap between them, the button's text wraps as it did).
   */
  async problemBulletLines(): Promise<
    { line: number; lines: number; fits: boolean }[]
  > {
    return this.problems.evaluateAll(items =>
      items.map(item => {
        const button = item.querySelector('button')!;
        button.style.whiteSpace = getComputedStyle(button).whiteSpace;
        item.style.whiteSpace = 'nowrap';
        const probe = document.createElement('span');
        probe.style.cssText =
          'display: inline-block; width: 0; height: 0; vertical-align: baseline';
        item.prepend(probe);
        const baseline = probe.getBoundingClientRect().bottom;
        probe.remove();
        item.style.whiteSpace = '';
        button.style.whiteSpace = '';
        // One rectangle per line of the problem's text (its text node's, not the button's box).
        const range = document.createRange();
        range.selectNodeContents(button.firstChild!);
        const rects = [...range.getClientRects()];
        const lines = rects
          .filter(
            (r, i) => !rects.slice(0, i).some(o => Math.abs(o.top - r.top) < 2)
          )
          .sort((a, b) => a.top - b.top);
        const line = lines.findIndex(
          r => baseline > r.top && baseline <= r.bottom
        );
        const fits =
          button.getBoundingClientRect().right <=
          item.getBoundingClientRect().right + 1;
        return { line, lines: lines.length, fits };
      })
    );
  }

  /** The live state of a task in the panel's list of the flow's tasks. */
  panelTaskState(task: string): Locator {
    return this.panel.locator(
      `.jp-CellflowFlow-task[data-task="${task}"] .jp-CellflowFlow-taskState`
    );
  }

  /** The panel's line about the deployed version ("Deployed version 2, up to date."). */
  get deployedVersion(): Locator {
    return this.panel.locator('.jp-CellflowActions-version');
  }

  /** Click Deploy in the panel and wait until it says which version is deployed. */
  async deploy(version?: number): Promise<void> {
    await this.panelButton('Deploy');
    await expect(this.deployedVersion).toContainText(
      version === undefined ? 'Deployed version' : `Deployed version ${version}`
    );
  }

  /**
   * Deploy a notebook from a terminal, as `cellflow deploy FILE --name NAME` does, logged in with the
   * test server's key; returns what the command printed.
   */
  static deployWithCli(name: string, content: unknown): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cellflow-cli-'));
    const file = path.join(dir, `${name}.ipynb`);
    fs.writeFileSync(file, JSON.stringify(content));
    const { url, key } = CellflowPage.server();
    return execFileSync(
      process.execPath,
      [CELLFLOW_BIN, 'deploy', file, '--name', name],
      {
        encoding: 'utf8',
        env: { ...process.env, CELLFLOW_API_URL: url, CELLFLOW_API_KEY: key }
      }
    );
  }

  /** The rows of the panel's run history, newest first. */
  get panelRunRows(): Locator {
    return this.panel.locator('.jp-CellflowRuns-table tr[data-run]');
  }

  /** The schedule editor's form, in its dialog: it previews and adds a schedule. */
  get scheduleForm(): Locator {
    return this.page.locator('.jp-Dialog .jp-CellflowScheduleForm');
  }

  /** Open the schedule editor from the panel's "Add schedule…". */
  async openScheduleEditor(): Promise<Locator> {
    await this.panelButton('Add schedule…');
    await expect(this.scheduleForm).toBeVisible();
    return this.scheduleForm;
  }

  /** Press the editor's "Add schedule": the dialog closes once the server has the schedule. */
  async addScheduleFromEditor(): Promise<void> {
    await this.scheduleForm
      .getByRole('button', { name: 'Add schedule', exact: true })
      .click();
    await expect(this.page.locator('.jp-Dialog')).toHaveCount(0);
  }

  /** Add a schedule of an interval ("10s") through the editor, in the browser's zone. */
  async addIntervalSchedule(every: string): Promise<void> {
    const form = await this.openScheduleEditor();
    await form.locator('select[name="kind"]').selectOption('interval');
    await form.locator('input[name="every"]').fill(every);
    await this.addScheduleFromEditor();
  }

  /** Fill the schedule form for an interval ("10s") in a time zone; the preview follows as typed. */
  async typeIntervalSchedule(every: string, zone: string): Promise<void> {
    const form = this.scheduleForm;
    await form.locator('select[name="kind"]').selectOption('interval');
    await form.locator('input[name="every"]').fill(every);
    await form.locator('input[name="timezone"]').fill(zone);
  }

  /** The times of a list of run times (the form's preview or a saved schedule's next runs), in ms. */
  async listedTimes(list: Locator): Promise<number[]> {
    return list
      .locator('li')
      .evaluateAll(items =>
        items.map(item => Date.parse(item.getAttribute('data-at') ?? ''))
      );
  }

  /** The panel's notifications section: the flow's rules and the deliveries sent for its runs. */
  get notifications(): Locator {
    return this.panel.locator('.jp-CellflowNotifications');
  }

  /** The notification form, in its dialog. */
  get notificationForm(): Locator {
    return this.page.locator('.jp-Dialog .jp-CellflowNotificationForm');
  }

  /** Open the form from the panel's "Add notification…". */
  async openNotificationEditor(): Promise<Locator> {
    await this.panelButton('Add notification…');
    await expect(this.notificationForm).toBeVisible();
    return this.notificationForm;
  }

  /** Add a signed webhook for failed and crashed runs (the form's default events) of this flow. */
  async addWebhookNotification(url: string, secret: string): Promise<void> {
    const form = await this.openNotificationEditor();
    await form.locator('select[name="kind"]').selectOption('webhook');
    await form.locator('input[name="url"]').fill(url);
    await form.locator('input[name="secret"]').fill(secret);
    await form.getByRole('button', { name: 'Add notification' }).click();
    await expect(this.page.locator('.jp-Dialog')).toHaveCount(0);
  }

  /** Reload the lab, reopen a notebook and the panel, as a user back at their desk would. */
  async reloadAndReopen(notebookPath: string): Promise<void> {
    // Not galata's wait for a Launcher tab, which a restored layout does not have (galata's reload
    // takes waitForIsReady; the fixture's type names only Playwright's options).
    const lab = this.page as unknown as {
      reload(options: { waitForIsReady: boolean }): Promise<unknown>;
    };
    await lab.reload({ waitForIsReady: false });
    await expect(this.page.locator('#jupyterlab-splash')).toHaveCount(0, {
      timeout: 60000
    });
    // Reopened as File > Open from Path… does (the restored sidebar may hide the file browser).
    await this.page.evaluate(async path => {
      await (window as any).jupyterapp.commands.execute('docmanager:open', {
        path
      });
    }, notebookPath);
    await expect(
      this.page
        .locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')
        .first()
    ).toBeVisible();
    await this.openPanelFromSidebar();
    await this.loginToTestServer();
  }

  /** Create a Python notebook, type code into its first cell and run it; returns the cell's output text. */
  async runInNewNotebook(name: string, code: string): Promise<string | null> {
    await this.page.notebook.createNew(name);
    await this.page.notebook.setCell(0, 'code', code);
    await this.page.notebook.runCell(0);
    return this.page.notebook
      .getCellTextOutput(0)
      .then(out => (out ? out.join('') : null));
  }

  /** Deploy the open notebook, then press Run now `count` times, each run ending before the next. */
  async deployAndRun(count: number, state = 'Completed'): Promise<void> {
    await this.panelButton('Deploy');
    await expect(
      this.panel.locator('.jp-CellflowActions-version')
    ).toContainText('Deployed version');
    const rows = this.panelRunRows;
    const before = await rows.count();
    for (let i = 1; i <= count; i++) {
      await this.panelButton('Run now');
      await expect(rows).toHaveCount(before + i);
      await expect(rows.first()).toHaveAttribute('data-state', state, {
        timeout: 60000
      });
    }
  }

  /** "Cellflow runs", in the main area. */
  get runsView(): Locator {
    return this.page.locator('#cellflow-runs');
  }

  /** The run "Cellflow runs" shows beside the history. */
  get runPage(): Locator {
    return this.runsView.locator('.jp-CellflowRunPage');
  }

  /** The rows of a table of "Cellflow runs"' history: 'Past runs' or 'Upcoming runs'. */
  historyRows(table: 'Past runs' | 'Upcoming runs'): Locator {
    return this.runsView.locator(
      `table[aria-label="${table}"] tbody tr[data-run]`
    );
  }

  /** Click a button of "Cellflow runs" by its text. */
  async runsButton(name: string): Promise<void> {
    await this.runsView.getByRole('button', { name, exact: true }).click();
  }

  /** Choose a value of one of the history's filters (State, Trigger, When). */
  async filterHistory(
    filter: 'State' | 'Trigger' | 'When',
    value: string
  ): Promise<void> {
    await this.runsView
      .locator('.jp-CellflowHistory-filters label', { hasText: filter })
      .locator('select')
      .selectOption(value);
  }
}
