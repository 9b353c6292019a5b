import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import { expect, Locator } from '@playwright/test';

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

  /** Create a Python notebook, type code into its first cell and run it; returns the cell's output text. */
  async runInNewNotebook(name: string, code: string): Promise<string | null> {
    await this.page.notebook.createNew(name);
    await this.page.notebook.setCell(0, 'code', code);
    await this.page.notebook.runCell(0);
    return this.page.notebook
      .getCellTextOutput(0)
      .then(out => (out ? out.join('') : null));
  }
}
