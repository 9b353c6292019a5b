import { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import {
  ICommandPalette,
  MainAreaWidget,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';

import { cellflowIcon } from './icons.js';
import { ConnectionModel } from './model/connection-model.js';
import { RunsDashboardModel } from './model/runs-dashboard-model.js';
import { CommandIDs } from './tokens.js';
import { RunsDashboard } from './widgets/runs-dashboard.js';

/**
 * "Cellflow runs" in the main area: one view, opened by `cellflow:open-runs` ({flowId, runId, task},
 * each optional) from the palette, the panel and a task's chip, tracked so a reload restores it on the
 * flow and run it showed.
 */
export function registerRunsDashboard(options: {
  app: JupyterFrontEnd;
  connection: ConnectionModel;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
  palette: ICommandPalette | null;
  restorer: ILayoutRestorer | null;
}): void {
  const { app, connection, rendermime, trans, palette, restorer } = options;
  const text = (value: unknown) =>
    typeof value === 'string' && value ? value : null;
  const tracker = new WidgetTracker<MainAreaWidget<RunsDashboard>>({
    namespace: 'cellflow-runs'
  });
  app.commands.addCommand(CommandIDs.openRuns, {
    label: trans.__('Open Cellflow Runs'),
    caption: trans.__(
      "The flows' runs: a grid of tasks by run, and each run's timeline"
    ),
    icon: cellflowIcon,
    execute: async args => {
      const flowId = text(args.flowId);
      const runId = text(args.runId);
      const task = text(args.task);
      let widget = tracker.currentWidget;
      if (widget && !widget.isDisposed) {
        if (flowId) {
          await widget.content.model.selectFlow(flowId);
        }
        if (runId) {
          widget.content.model.selectRun(runId, task);
        }
      } else {
        const model = new RunsDashboardModel(connection, {
          flowId,
          runId,
          task
        });
        widget = new MainAreaWidget({
          content: new RunsDashboard(model, rendermime, trans)
        });
        widget.id = 'cellflow-runs';
        widget.title.label = trans.__('Cellflow runs');
        widget.title.icon = cellflowIcon;
        widget.title.closable = true;
        await tracker.add(widget);
        // Saved again when the selection changes (not at every redraw: each save postpones the
        // workspace's debounced write), so a reload reopens the flow and run shown.
        const selection = () =>
          `${model.flowId}/${model.runId}/${model.runView?.task}`;
        let saved = selection();
        model.changed.connect(() => {
          const now = selection();
          if (now !== saved) {
            saved = now;
            void tracker.save(widget!);
          }
        });
      }
      if (!widget.isAttached) {
        app.shell.add(widget, 'main');
      }
      app.shell.activateById(widget.id);
      return widget;
    }
  });
  palette?.addItem({ command: CommandIDs.openRuns, category: 'Cellflow' });
  // A notification links to `<lab>/lab?cellflow-run=<id>`: that run opens once the lab is restored.
  const linked = new URLSearchParams(window.location.search).get(
    RUN_LINK_PARAMETER
  );
  if (linked) {
    void app.restored.then(() =>
      app.commands.execute(CommandIDs.openRuns, { runId: linked })
    );
  }
  void restorer?.restore(tracker, {
    command: CommandIDs.openRuns,
    args: widget => ({
      flowId: widget.content.model.flowId ?? '',
      runId: widget.content.model.runId ?? '',
      task: widget.content.model.runView?.task ?? ''
    }),
    name: () => 'cellflow-runs'
  });
}

/** The query parameter of a link to a run (the server's notifications write it). */
export const RUN_LINK_PARAMETER = 'cellflow-run';
