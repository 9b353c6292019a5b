/**
 * The tutorial end to end, as a new user follows it: examples/etl.ipynb on a 10-second schedule
 * against the local users API (started by playwright.config.js, port 8766 unless CELLFLOW_TEST_USERS_API_PORT says), retries when the API
 * fails, and a clear failure when the API is not there at all.
 */
import { expect, test } from '@jupyterlab/galata';
import type { APIRequestContext, Page } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

import { CellflowPage } from './helpers/cellflow-page';

const USERS_API = process.env.CELLFLOW_TEST_USERS_API_URL!;
const COLUMNS = [
  'ID',
  'Name',
  'Username',
  'Email',
  'Address',
  'PhoneNumber',
  'CompanyName'
];
// Cell positions in examples/etl.ipynb.
const EXTRACT = 6;
const LOAD = 10;

/** examples/etl.ipynb with its parameters pointing at the test's users API and output folder. */
function tutorialNotebook(outDir: string): any {
  const source = path.resolve(__dirname, '..', '..', 'examples', 'etl.ipynb');
  const nb = JSON.parse(fs.readFileSync(source, 'utf8'));
  const cell = nb.cells.find((c: any) =>
    (c.metadata?.tags ?? []).includes('parameters')
  );
  cell.source = [
    `url = "${USERS_API}/users"  # the users API (examples/users-api)\n`,
    `out_dir = ${JSON.stringify(outDir)}  # where the CSV files go\n`
  ];
  return nb;
}

/** One CSV line to fields (pandas quotes the address, which holds commas). */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') {
      field += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (c === ',' && !quoted) {
      fields.push(field);
      field = '';
    } else {
      field += c;
    }
  }
  fields.push(field);
  return fields;
}

/**
 * The id of a Completed run of the `etl` flow whose extract task took `attempts` attempts, asked of
 * the Cellflow server's API (the run view shows the same; this finds which row to open).
 */
async function runWithExtractAttempts(
  page: { request: APIRequestContext },
  attempts: number
): Promise<string | null> {
  const { url, key } = CellflowPage.server();
  const get = async (route: string) => {
    const response = await page.request.get(`${url}${route}`, {
      headers: { authorization: `Bearer ${key}` }
    });
    expect(response.ok(), route).toBeTruthy();
    return response.json();
  };
  const { flows } = await get('/api/flows');
  const flow = flows.find((f: any) => f.name === 'etl');
  const { runs } = await get(
    `/api/runs?flowId=${flow.id}&state=Completed&limit=50`
  );
  for (const run of runs) {
    const { run: detail } = await get(`/api/runs/${run.id}`);
    const extract = detail.taskRuns.find((t: any) => t.taskName === 'extract');
    if (extract?.attemptCount === attempts) {
      return run.id;
    }
  }
  return null;
}

/** Every CSV file in the folder: name → text. */
function csvFiles(folder: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of fs.readdirSync(folder).sort()) {
    if (name.endsWith('.csv')) {
      files.set(name, fs.readFileSync(path.join(folder, name), 'utf8'));
    }
  }
  return files;
}

/** The flow's own folder on the server's machine (its runs' working folder): looked up by name. */
async function flowFolder(page: Page, name: string): Promise<string> {
  const answer = await page.request.get('/cellflow/api/flows');
  expect(answer.ok()).toBe(true);
  const { flows } = (await answer.json()) as {
    flows: { id: string; name: string }[];
  };
  const flow = flows.find(f => f.name === name);
  expect(flow, JSON.stringify(flows)).toBeDefined();
  return path.join(process.env.CELLFLOW_TEST_DATA_DIR!, 'flows', flow!.id);
}

test.describe('The tutorial', () => {
  test.use({ kernels: null });

  test('etl.ipynb every 10 seconds: three runs write three CSV files; extract retries when the API fails, and fails clearly when it is gone', async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(300000);
    // Relative, as the notebook's default: a sandboxed kernel writes in its run's folder only (here the
    // flow's own folder in the server's data dir; its /tmp is its own).
    const outName = 'output';
    // A users API left running by an earlier run is reused: its failure switch starts off.
    expect((await page.request.post(`${USERS_API}/fail?count=0`)).ok()).toBe(
      true
    );
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/etl.ipynb`,
      tutorialNotebook(outName)
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();

    // Deploy, then add an interval schedule of 10 seconds through the schedule editor.
    await cellflow.panelButton('Deploy');
    await expect(
      cellflow.panel.locator('.jp-CellflowActions-version')
    ).toContainText('Deployed version 1, up to date.');
    const form = await cellflow.openScheduleEditor();
    await form.locator('select[name="kind"]').selectOption('interval');
    await form.locator('input[name="every"]').fill('10s');
    await expect(
      form.locator('.jp-CellflowSchedulePreview-description')
    ).toHaveText('every 10 seconds');
    await cellflow.addScheduleFromEditor();
    const schedule = cellflow.panel.locator('.jp-CellflowSchedule');
    await expect(
      schedule.locator('.jp-CellflowSchedule-description')
    ).toHaveText('every 10 seconds');

    // Three scheduled runs complete, each with its own CSV file of the ten users in seven columns.
    const runs = (state?: string) =>
      cellflow.panel.locator(
        `.jp-CellflowRuns-table tr[data-run]${state ? `[data-state="${state}"]` : ''}`
      );
    const scheduledCompleted = runs('Completed').filter({
      hasText: 'scheduled'
    });
    await expect
      .poll(() => scheduledCompleted.count(), { timeout: 90000 })
      .toBeGreaterThanOrEqual(3);
    await expect(cellflow.chipState(LOAD)).toContainText('Completed');
    await cellflow.chip(EXTRACT).scrollIntoViewIfNeeded();
    await runs().first().scrollIntoViewIfNeeded();
    await cellflow.screenshot('tutorial-scheduled-runs');
    const outDir = path.join(await flowFolder(page, 'etl'), outName);
    const firstFiles = csvFiles(outDir);
    expect(firstFiles.size).toBeGreaterThanOrEqual(3);
    for (const [name, text] of firstFiles) {
      const lines = text.trimEnd().split('\n');
      expect(csvFields(lines[0]), name).toEqual(COLUMNS);
      expect(lines, name).toHaveLength(11);
      for (const line of lines.slice(1)) {
        expect(csvFields(line), `${name}: ${line}`).toHaveLength(7);
      }
    }

    // The API's failure switch: the next two requests get 503; extract retries and the run completes.
    const failing = await page.request.post(`${USERS_API}/fail?count=2`);
    expect(failing.ok()).toBeTruthy();
    await expect(cellflow.chipState(EXTRACT)).toContainText('Retrying', {
      timeout: 30000
    });
    await cellflow.chip(EXTRACT).scrollIntoViewIfNeeded();
    await cellflow.screenshot('tutorial-retrying');
    // The run that retried, as the server recorded it: extract took three attempts and the run completed.
    let retriedId: string | null = null;
    await expect
      .poll(async () => (retriedId = await runWithExtractAttempts(page, 3)), {
        timeout: 60000
      })
      .toBeTruthy();
    // Found in the history of Cellflow runs (the panel lists only the last few), then opened there.
    await cellflow.panelButton('Open runs');
    const retriedRow = cellflow
      .historyRows('Past runs')
      .and(page.locator(`[data-run="${retriedId}"]`));
    await expect(retriedRow).toHaveAttribute('data-state', 'Completed');
    await expect(retriedRow).toContainText('scheduled');
    await retriedRow.click();
    const extractDetail = cellflow.runPage.locator(
      '.jp-CellflowRunPage-task[data-task="extract"]'
    );
    await expect(extractDetail).toContainText('Completed');
    await expect(extractDetail).toContainText('3 attempts');
    await page.activity.activateTab('etl.ipynb');

    // Pause the schedule, so the chips show the next run alone, and wait for runs in flight to end.
    await schedule.getByRole('button', { name: 'Pause' }).click();
    await expect(
      schedule.locator('.jp-CellflowSchedule-description')
    ).toContainText('paused');
    for (const state of ['Pending', 'Running']) {
      await expect(runs(state)).toHaveCount(0, { timeout: 60000 });
    }
    const before = csvFiles(outDir);

    // `url` at a port where nothing listens: extract fails after its retries, with the error on its chip.
    const url = cellflow.panel.locator('[data-parameter="url"] input');
    await url.fill('http://127.0.0.1:9/users');
    await cellflow.panelButton('Run now');
    await expect(cellflow.chipState(EXTRACT)).toContainText(
      'Failed: ConnectionError',
      { timeout: 60000 }
    );
    await expect(cellflow.chip(EXTRACT)).toHaveAttribute(
      'data-state',
      'Failed'
    );
    const failedRow = runs().first();
    await expect(failedRow).toHaveAttribute('data-state', 'Failed');
    await expect(failedRow).toContainText('manual');
    await expect(failedRow).toContainText('127.0.0.1:9');
    await failedRow.click();
    await expect(extractDetail).toContainText('Failed');
    await expect(extractDetail).toContainText('4 attempts');
    await expect(extractDetail.locator('.jp-CellflowError')).toContainText(
      'Connection refused'
    );
    // Back in the notebook, the failure is named on the chip.
    await page.activity.activateTab('etl.ipynb');
    await cellflow.chip(EXTRACT).scrollIntoViewIfNeeded();
    await cellflow.screenshot('tutorial-failed');

    // The earlier runs' files are untouched, and the failed run wrote none.
    expect(csvFiles(outDir)).toEqual(before);
  });
});
