import { expect, test } from '@jupyterlab/galata';
import { createHmac } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';

import { CellflowPage } from './helpers/cellflow-page';
import { codeCell, notebook } from './helpers/notebooks';

/** What a webhook receiver on 127.0.0.1 got: each body as sent, with its signature header. */
interface IReceived {
  body: string;
  signature: string | undefined;
}

const SECRET = 'ui-test-signing-secret';

/** Issue 19: a flow's notifications, added in the panel, and their deliveries shown with their outcome. */
test.describe('Notifications in the panel', () => {
  test.use({ kernels: null });

  let receiver: http.Server;
  let receiverUrl = '';
  const received: IReceived[] = [];

  test.beforeAll(async () => {
    // The outside world: a webhook receiver, as a team's incident tool would run one.
    receiver = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', chunk => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          body: Buffer.concat(chunks).toString('utf8'),
          signature: request.headers['x-cellflow-signature-256'] as
            string | undefined
        });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>(resolve =>
      receiver.listen(0, '127.0.0.1', resolve)
    );
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/incidents`;
  });

  test.afterAll(async () => {
    await new Promise(resolve => receiver.close(resolve));
  });

  test('a webhook rule added in the panel is tested, gets one signed message when a run fails, and shows the delivery', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/notify_etl.ipynb`,
      notebook([
        codeCell('%%task extract\nrows = [1, 2, 3]'),
        codeCell(
          '%%task load\nraise ValueError(f"cannot load {len(rows)} rows")'
        )
      ])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.deploy();

    const section = cellflow.notifications;
    await expect(section).toContainText('No notification yet');
    await cellflow.addWebhookNotification(receiverUrl, SECRET);
    const rule = section.locator('.jp-CellflowNotificationRule');
    await expect(rule).toHaveCount(1);
    await expect(rule).toContainText('On failed, crashed → webhook');
    // The destination is shown masked: the path (which may hold a token) and the secret never.
    await expect(rule).not.toContainText('incidents');
    await expect(page.locator('body')).not.toContainText(SECRET);

    // Test sends a test message now and says it arrived.
    await rule.getByRole('button', { name: 'Test' }).click();
    await expect(rule.locator('.jp-CellflowNotificationRule-test')).toHaveText(
      'Test message delivered'
    );
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0].body)).toMatchObject({ event: 'Test' });

    // A run that fails: one message, signed, naming the flow, the run, the task and its error.
    await cellflow.panelButton('Run now');
    await expect(cellflow.panelRunRows.first()).toHaveAttribute(
      'data-state',
      'Failed',
      { timeout: 60000 }
    );
    const delivery = section.locator('.jp-CellflowNotificationDelivery');
    await expect(delivery).toHaveCount(1);
    await expect(delivery).toHaveAttribute('data-state', 'Delivered', {
      timeout: 30000
    });
    await expect(delivery).toContainText('failed → webhook');
    const runId = await cellflow.panelRunRows.first().getAttribute('data-run');
    await expect(delivery).toContainText(`run ${runId!.slice(0, 8)}`);
    await cellflow.notifications.scrollIntoViewIfNeeded();
    await cellflow.screenshot('panel-notifications');

    expect(received).toHaveLength(2);
    const message = received[1];
    expect(message.signature).toBe(
      `sha256=${createHmac('sha256', SECRET).update(message.body).digest('hex')}`
    );
    expect(JSON.parse(message.body)).toMatchObject({
      event: 'Failed',
      flowName: 'notify_etl',
      runId,
      failedTask: 'load',
      errorLine: 'ValueError: cannot load 3 rows'
    });

    // Removed after a confirmation: no rule left, and no more messages for later failures.
    await rule.getByRole('button', { name: 'Remove' }).click();
    await page
      .locator('.jp-Dialog')
      .getByRole('button', { name: 'Remove' })
      .click();
    await expect(rule).toHaveCount(0);
    await expect(section).toContainText('No notification yet');
  });

  test('a rule without its destination is refused in the form, naming the field, and nothing is added', async ({
    page,
    tmpPath
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openNotebook(
      `${tmpPath}/notify_refused.ipynb`,
      notebook([codeCell('%%task only\nprint("hi")')])
    );
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.deploy();

    const form = await cellflow.openNotificationEditor();
    await form.locator('select[name="kind"]').selectOption('webhook');
    await form.locator('input[name="url"]').fill('ftp://example.org/hook');
    await form.locator('input[name="secret"]').fill(SECRET);
    await form.getByRole('button', { name: 'Add notification' }).click();
    // The server's refusal, under the field it names; the dialog stays with what was typed.
    await expect(form.locator('.jp-CellflowError')).toContainText(
      'url must be an http(s) URL'
    );
    await expect(form.locator('input[name="url"]')).toHaveValue(
      'ftp://example.org/hook'
    );
    await page
      .locator('.jp-Dialog')
      .getByRole('button', { name: 'Close' })
      .click();
    await expect(
      cellflow.notifications.locator('.jp-CellflowNotificationRule')
    ).toHaveCount(0);
  });
});
