import { expect, test } from '@jupyterlab/galata';

import { CellflowPage } from './helpers/cellflow-page';

/** A value that must never show up in the page once it is saved. */
const VALUE = 'ui-secret-3f9a7c1e-never-shown';

test.describe('Secrets of the workspace in the Cellflow panel', () => {
  test.use({ kernels: null });

  test('add a secret: its name is listed, its value never in the page; delete it after the confirmation', async ({
    page
  }) => {
    const cellflow = new CellflowPage(page);
    await cellflow.openPanelFromSidebar();
    await cellflow.loginToTestServer();
    await cellflow.openSecrets();
    await expect(cellflow.secrets).toContainText(
      'Available to this workspace’s flows as environment variables (os.environ); masked as *** in logs.'
    );
    const form = cellflow.secrets.locator('.jp-CellflowSecrets-form');
    const value = form.locator('input[name="secret-value"]');
    await expect(value).toHaveAttribute('type', 'password');
    await expect(value).toHaveAttribute('autocomplete', 'off');

    // A reserved name is refused as typed, naming the name.
    await form.locator('input[name="secret-name"]').fill('PATH');
    await expect(form.locator('.jp-CellflowError')).toContainText(
      'PATH is reserved'
    );
    await expect(form.locator('button[type="submit"]')).toBeDisabled();

    await cellflow.addSecret('UI_TOKEN', VALUE);
    await expect(cellflow.secretRow('UI_TOKEN')).toContainText('UI_TOKEN');
    await expect(cellflow.secretRow('UI_TOKEN')).toContainText('set');
    await expect(cellflow.secrets.locator('summary')).toHaveText('Secrets (1)');
    // The form is empty again; the value is nowhere: not in the DOM, not in any field.
    await expect(value).toHaveValue('');
    expect(await page.content()).not.toContain(VALUE);
    const fields = await page.evaluate(() =>
      Array.from(document.querySelectorAll('input, textarea')).map(
        field => (field as HTMLInputElement).value
      )
    );
    expect(fields.join('\n')).not.toContain(VALUE);
    // The lab's proxy lists it by name only.
    const listed = await page.request.get('/cellflow/api/secrets');
    expect(listed.ok()).toBeTruthy();
    const body = await listed.text();
    expect(body).toContain('UI_TOKEN');
    expect(body).not.toContain(VALUE);

    // The same name again is a replacement.
    await form.locator('input[name="secret-name"]').fill('UI_TOKEN');
    await expect(form.locator('button[type="submit"]')).toHaveText('Replace');
    await form.locator('input[name="secret-name"]').fill('');

    // Cancelling the confirmation keeps it; accepting deletes it.
    await cellflow.deleteSecret('UI_TOKEN', false);
    await expect(cellflow.secretRow('UI_TOKEN')).toBeVisible();
    await cellflow.deleteSecret('UI_TOKEN');
    await expect(cellflow.secretRow('UI_TOKEN')).toHaveCount(0);
    await expect(cellflow.secrets).toContainText('No secret yet.');
    const after = await page.request.get('/cellflow/api/secrets');
    expect((await after.json()).secrets).toEqual([]);
  });
});
