import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, IToolbarWidgetRegistry } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { addNotebookCommands } from './commands';
import { NotebookFlowTracker } from './notebook/flow-tracker';
import { registerRunsDashboard } from './dashboard';
import { CellflowPanel } from './panel';
import { CommandIDs, ICellflowNotebooks, PluginIDs } from './tokens';
import { RunStateItem } from './widgets/run-state-item';

/**
 * Cells as tasks: the `%%task` line and task metadata kept in step, a chip on each task cell,
 * the task commands (cell toolbar button, palette) and "Run here" in the notebook's kernel.
 */
const notebooksPlugin: JupyterFrontEndPlugin<ICellflowNotebooks> = {
  id: PluginIDs.notebooks,
  description: 'Notebook cells as Cellflow tasks, their chips, and Run here.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ITranslator, IToolbarWidgetRegistry],
  provides: ICellflowNotebooks,
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    translator: ITranslator | null,
    toolbars: IToolbarWidgetRegistry | null
  ): ICellflowNotebooks => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_cellflow');
    const flows = new NotebookFlowTracker(notebooks, trans);
    // The flow's overall run state in the notebook toolbar (declared in schema/notebooks.json).
    toolbars?.addFactory<NotebookPanel>(
      'Notebook',
      'cellflow-run-state',
      panel =>
        new RunStateItem(
          panel.context.ready.then(() => flows.flowOf(panel)),
          trans
        )
    );
    addNotebookCommands(app.commands, notebooks, flows, trans);
    for (const command of [
      CommandIDs.makeTask,
      CommandIDs.unmakeTask,
      CommandIDs.renameTask,
      CommandIDs.toggleSkip,
      CommandIDs.runHere,
      CommandIDs.stopRun
    ]) {
      palette?.addItem({ command, category: 'Cellflow' });
    }
    return flows;
  }
};

/** The Cellflow side panel in the left area, and the palette command that reveals it. */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: PluginIDs.panel,
  description:
    'The Cellflow side panel: flows, schedules and runs of the current notebook.',
  autoStart: true,
  requires: [ILabShell, ICellflowNotebooks, IRenderMimeRegistry],
  optional: [ICommandPalette, ILayoutRestorer, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    notebooks: ICellflowNotebooks,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_cellflow');
    const panel = new CellflowPanel({
      notebooks,
      commands: app.commands,
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
    registerRunsDashboard({
      app,
      connection: panel.connection,
      rendermime,
      trans,
      palette,
      restorer
    });

    // Clicking a task's chip selects the task in the panel and opens the run the chips show in
    // "Cellflow runs", on that task; before any run, the panel shows the task's settings.
    app.commands.addCommand(CommandIDs.selectTask, {
      label: trans.__('Show the Task and Its Run'),
      execute: async args => {
        const task = typeof args.task === 'string' ? args.task : null;
        const flow = notebooks.current;
        if (!flow || !task) {
          return;
        }
        flow.model.selectedTask = task;
        const shown = panel.chipRun();
        if (shown) {
          await app.commands.execute(CommandIDs.openRuns, { ...shown, task });
        } else {
          labShell.activateById(panel.id);
        }
      }
    });
    notebooks.taskSelected.connect((_, { task }) =>
      app.commands.execute(CommandIDs.selectTask, { task })
    );
  }
};

export default [notebooksPlugin, panelPlugin];
