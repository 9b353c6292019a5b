import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { CellflowPanel } from './panel';
import { CommandIDs, PluginIDs } from './tokens';

/** The Cellflow side panel in the left area, and the palette command that reveals it. */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: PluginIDs.panel,
  description:
    'The Cellflow side panel: flows, schedules and runs of the current notebook.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette, ILayoutRestorer, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_cellflow');
    const panel = new CellflowPanel({
      translator: translator ?? nullTranslator
    });
    labShell.add(panel, 'left', { rank: 600 });
    restorer?.add(panel, panel.id);

    app.commands.addCommand(CommandIDs.openPanel, {
      label: trans.__('Open the Cellflow Panel'),
      caption: trans.__('Show the Cellflow side panel'),
      execute: () => labShell.activateById(panel.id)
    });
    palette?.addItem({ command: CommandIDs.openPanel, category: 'Cellflow' });
  }
};

export default [panelPlugin];
