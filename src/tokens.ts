/**
 * Public identifiers of the Cellflow extension: plugin ids, command ids and tokens.
 * Kept apart from the plugins so other extensions (and tests) can import them cheaply.
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

import type { NotebookFlow } from './notebook/notebook-flow.js';

/** The npm package name, used as the prefix of every plugin id. */
export const PACKAGE_NAME = 'jupyterlab-cellflow';

/** Plugin ids. `schema/<suffix>.json` holds the settings of the plugin with the same suffix. */
export namespace PluginIDs {
  export const panel = `${PACKAGE_NAME}:plugin`;
  export const notebooks = `${PACKAGE_NAME}:notebooks`;
}

/** Every command the extension registers, in one place. */
export namespace CommandIDs {
  /** Reveal the Cellflow side panel. */
  export const openPanel = 'cellflow:open-panel';
  /** The cell toolbar button: make the active cell a task, or stop it being one. */
  export const toggleTask = 'cellflow:toggle-task';
  export const makeTask = 'cellflow:make-task';
  export const unmakeTask = 'cellflow:unmake-task';
  export const renameTask = 'cellflow:rename-task';
  /** A skipped cell never runs in a flow. */
  export const toggleSkip = 'cellflow:toggle-skip';
  /** Run the flow in the notebook's own kernel, and stop that run. */
  export const runHere = 'cellflow:run-here';
  export const stopRun = 'cellflow:stop-run';
  /** Select a task (args: { task }) and show it in the side panel. */
  export const selectTask = 'cellflow:select-task';
  /** Open "Cellflow runs" in the main area (args: { flowId?, runId? }). */
  export const openRuns = 'cellflow:open-runs';
}

/** The id of the side panel widget, stable so layouts restore and tests can find it. */
export const PANEL_ID = 'cellflow-panel';

/** The Cellflow state of every open notebook. */
export interface ICellflowNotebooks {
  /** The flow of the active notebook, if any. */
  readonly current: NotebookFlow | null;
  readonly currentChanged: ISignal<ICellflowNotebooks, NotebookFlow | null>;
  /** A user clicked a task's chip. */
  readonly taskSelected: ISignal<
    ICellflowNotebooks,
    { flow: NotebookFlow; task: string }
  >;
  flowOf(panel: NotebookPanel): NotebookFlow | null;
}

export const ICellflowNotebooks = new Token<ICellflowNotebooks>(
  `${PACKAGE_NAME}:ICellflowNotebooks`,
  'The Cellflow state (tasks, flow, live run states) of each open notebook.'
);
