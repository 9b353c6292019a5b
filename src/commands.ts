import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { ICellModel } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import { DisposableSet, IDisposable } from '@lumino/disposable';

import { effectiveTaskSettings } from './flow/magic.js';
import { isPythonIdentifier } from './flow/validate.js';
import { cellflowIcon, runHereIcon, stopRunIcon } from './icons.js';
import { NotebookFlowTracker } from './notebook/flow-tracker.js';
import {
  isSkipped,
  isTaskCell,
  makeTask,
  renameTask,
  suggestTaskName,
  toggleSkip,
  unmakeTask
} from './notebook/task-actions.js';
import { CommandIDs } from './tokens.js';

/** The notebook commands of Cellflow; returns what removes them again. */
export function addNotebookCommands(
  commands: CommandRegistry,
  notebooks: INotebookTracker,
  flows: NotebookFlowTracker,
  trans: TranslationBundle
): IDisposable {
  const activeCell = (): ICellModel | null => {
    const cell = notebooks.activeCell?.model ?? null;
    return cell && cell.type === 'code' ? cell : null;
  };
  const taskNames = (): Set<string> => {
    const names = new Set<string>();
    const cells = notebooks.currentWidget?.content.model?.cells;
    for (let i = 0; cells && i < cells.length; i++) {
      const cell = cells.get(i);
      const task = effectiveTaskSettings({
        source: cell.sharedModel.getSource(),
        metadata: { cellflow: cell.getMetadata('cellflow') }
      });
      if (task.isTask && task.name) {
        names.add(task.name);
      }
    }
    return names;
  };
  const askName = async (title: string, value: string) => {
    const result = await InputDialog.getText({
      title,
      label: trans.__('Task name (a Python identifier)'),
      text: value,
      okLabel: trans.__('OK'),
      cancelLabel: trans.__('Cancel')
    });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    const name = result.value.trim();
    if (!isPythonIdentifier(name)) {
      await showDialog({
        title: trans.__('Invalid task name'),
        body: trans.__(
          '"%1" is not a Python identifier: use letters, digits and _, not starting with a digit.',
          name
        ),
        buttons: [Dialog.okButton({ label: trans.__('OK') })]
      });
      return null;
    }
    return name;
  };
  const hasCell = () => activeCell() !== null;

  const set = new DisposableSet();
  set.add(
    commands.addCommand(CommandIDs.makeTask, {
      label: trans.__('Make the Cell a Task'),
      caption: trans.__('Run this cell as a task of the notebook’s flow'),
      icon: cellflowIcon,
      isEnabled: () => hasCell() && !isTaskCell(activeCell()!),
      execute: async () => {
        const cell = activeCell();
        if (!cell || isTaskCell(cell)) {
          return;
        }
        const taken = taskNames();
        const name = await askName(
          trans.__('Make a Task'),
          suggestTaskName(cell.sharedModel.getSource(), taken)
        );
        if (name) {
          makeTask(cell, name);
          flows.current?.refresh();
        }
      }
    })
  );
  set.add(
    commands.addCommand(CommandIDs.unmakeTask, {
      label: trans.__('Stop the Cell Being a Task'),
      isEnabled: () => hasCell() && isTaskCell(activeCell()!),
      execute: () => {
        const cell = activeCell();
        if (cell && isTaskCell(cell)) {
          unmakeTask(cell);
          flows.current?.refresh();
        }
      }
    })
  );
  set.add(
    commands.addCommand(CommandIDs.toggleTask, {
      label: args =>
        args.toolbar ? '' : trans.__('Toggle the Cell Being a Task'),
      caption: trans.__(
        'Cellflow task: make this cell a task, or stop it being one'
      ),
      icon: cellflowIcon,
      isToggled: () => hasCell() && isTaskCell(activeCell()!),
      isEnabled: hasCell,
      execute: () =>
        commands.execute(
          hasCell() && isTaskCell(activeCell()!)
            ? CommandIDs.unmakeTask
            : CommandIDs.makeTask
        )
    })
  );
  set.add(
    commands.addCommand(CommandIDs.renameTask, {
      label: trans.__('Rename the Task'),
      isEnabled: () => hasCell() && isTaskCell(activeCell()!),
      execute: async () => {
        const cell = activeCell();
        if (!cell || !isTaskCell(cell)) {
          return;
        }
        const current = effectiveTaskSettings({
          source: cell.sharedModel.getSource(),
          metadata: { cellflow: cell.getMetadata('cellflow') }
        }).name;
        const name = await askName(trans.__('Rename the Task'), current ?? '');
        if (name) {
          renameTask(cell, name);
          flows.current?.refresh();
        }
      }
    })
  );
  set.add(
    commands.addCommand(CommandIDs.toggleSkip, {
      label: trans.__('Skip the Cell in Flows'),
      caption: trans.__(
        'A skipped cell never runs in a flow; it still runs by hand'
      ),
      isToggled: () => hasCell() && isSkipped(activeCell()!),
      isEnabled: hasCell,
      execute: () => {
        const cell = activeCell();
        if (cell) {
          toggleSkip(cell);
          flows.current?.refresh();
        }
      }
    })
  );
  set.add(
    commands.addCommand(CommandIDs.runHere, {
      label: args =>
        args.toolbar ? trans.__('Run here') : trans.__('Run the Flow Here'),
      caption: trans.__(
        'Run the flow in this notebook’s kernel, task by task, with retries and timeouts'
      ),
      icon: runHereIcon,
      isEnabled: () => !!flows.current && !flows.current.isRunning,
      execute: async () => {
        const flow = flows.current;
        if (!flow) {
          return;
        }
        const compiled = (flow.refresh(), flow.model.compiled);
        if (compiled && !compiled.ok) {
          await showDialog({
            title: trans.__('The flow has problems'),
            body: compiled.problems.map(p => p.message).join('\n'),
            buttons: [Dialog.okButton({ label: trans.__('OK') })]
          });
          return;
        }
        return flow.runHere();
      }
    })
  );
  set.add(
    commands.addCommand(CommandIDs.stopRun, {
      label: args =>
        args.toolbar ? trans.__('Stop') : trans.__('Stop the Flow Run'),
      caption: trans.__('Interrupt the running task and cancel the rest'),
      icon: stopRunIcon,
      isEnabled: () => !!flows.current?.isRunning,
      execute: () => flows.current?.stop()
    })
  );
  // Buttons follow the active cell and the run's state.
  const refreshState = () => {
    commands.notifyCommandChanged(CommandIDs.toggleTask);
    commands.notifyCommandChanged(CommandIDs.runHere);
    commands.notifyCommandChanged(CommandIDs.stopRun);
  };
  notebooks.activeCellChanged.connect(refreshState);
  flows.currentChanged.connect(refreshState);
  const onRunning = () => refreshState();
  const watch = (flow: ReturnType<NotebookFlowTracker['flowOf']>) => {
    flow?.runningChanged.connect(onRunning);
    flow?.model.changed.connect(refreshState);
  };
  notebooks.forEach(panel => watch(flows.flowOf(panel)));
  // The tracker connected to widgetAdded first, so the panel's flow exists when this runs.
  const onAdded = (_: INotebookTracker, panel: NotebookPanel) =>
    watch(flows.flowOf(panel));
  notebooks.widgetAdded.connect(onAdded);
  set.add({
    isDisposed: false,
    dispose() {
      notebooks.activeCellChanged.disconnect(refreshState);
      notebooks.widgetAdded.disconnect(onAdded);
      flows.currentChanged.disconnect(refreshState);
    }
  });
  return set;
}
