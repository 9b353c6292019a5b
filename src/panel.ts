import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import { Panel, Widget } from '@lumino/widgets';

import { CellflowClient } from './api/client';
import { cellflowIcon } from './icons';
import { ConnectionModel } from './model/connection-model';
import { CommandIDs } from './tokens';
import { RemoteFlowModel } from './model/remote-flow';
import { SecretsModel } from './model/secrets-model';
import type { NotebookFlow } from './notebook/notebook-flow';
import { ICellflowNotebooks, PANEL_ID } from './tokens';
import { ConnectionView } from './widgets/connection-view';
import { FlowActionsView } from './widgets/flow-actions';
import { FlowSection } from './widgets/flow-section';
import { RunsView } from './widgets/runs-view';
import { NotificationsView } from './widgets/notifications-view';
import { SchedulesView } from './widgets/schedules-view';
import { SecretsView } from './widgets/secrets-view';

/**
 * The Cellflow side panel: the connection and the workspace's secrets, the active notebook's flow
 * (tasks and problems), deploy and run with parameters, the selected task's settings, and the run
 * history with a run view.
 */
export class CellflowPanel extends Panel {
  readonly connection: ConnectionModel;
  readonly secrets: SecretsModel;

  constructor(options: CellflowPanel.IOptions) {
    super();
    const trans = (options.translator ?? nullTranslator).load(
      'jupyterlab_cellflow'
    );
    this._notebooks = options.notebooks;
    this.id = PANEL_ID;
    this.addClass('jp-CellflowPanel');
    this.title.icon = cellflowIcon;
    this.title.caption = trans.__('Cellflow');

    const header = new Widget();
    header.addClass('jp-CellflowPanel-header');
    header.node.textContent = trans.__('Cellflow');
    this.addWidget(header);

    const intro = new Widget();
    intro.addClass('jp-CellflowPanel-intro');
    intro.node.textContent = trans.__(
      'Mark notebook cells as tasks, then deploy the notebook as a scheduled flow.'
    );
    this.addWidget(intro);

    this.connection = new ConnectionModel(
      options.client ?? new CellflowClient()
    );
    this.addWidget(new ConnectionView(this.connection, trans));
    // The workspace's secrets, under the login they belong to (one line until opened).
    this.secrets = new SecretsModel(this.connection);
    this.addWidget(new SecretsView(this.secrets, this.connection, trans));
    this.addWidget(new FlowSection(options.notebooks, trans));
    this._actions = new FlowActionsView(
      this.connection,
      options.commands,
      trans
    );
    this.addWidget(this._actions);
    this._schedules = new SchedulesView(trans);
    this.addWidget(this._schedules);
    this._notifications = new NotificationsView(trans);
    this.addWidget(this._notifications);
    this._runs = new RunsView(
      trans,
      (flowId, runId) =>
        void options.commands.execute(CommandIDs.openRuns, {
          flowId,
          runId: runId ?? ''
        })
    );
    this.addWidget(this._runs);

    options.notebooks.currentChanged.connect(this.follow, this);
    this.follow(options.notebooks, options.notebooks.current);
    void this.connection.refresh();
  }

  /** The remote side of a notebook's flow, made on first use and disposed with the notebook. */
  remoteOf(flow: NotebookFlow): RemoteFlowModel {
    let remote = this._remotes.get(flow);
    if (!remote) {
      const made = new RemoteFlowModel(this.connection, flow.model, () =>
        withNotebookPath(
          flow.panel.content.model?.toJSON(),
          flow.panel.context.localPath
        )
      );
      remote = made;
      this._remotes.set(flow, made);
      flow.panel.disposed.connect(() => {
        made.dispose();
        this._remotes.delete(flow);
      });
    }
    return remote;
  }

  /** The run the active notebook's chips show, with its flow (null before its first run). */
  chipRun(): { flowId: string; runId: string } | null {
    const flow = this._notebooks.current;
    if (!flow) {
      return null;
    }
    const remote = this.remoteOf(flow);
    const runId = remote.latestRunId;
    return remote.flow && runId ? { flowId: remote.flow.id, runId } : null;
  }

  dispose(): void {
    this._notebooks.currentChanged.disconnect(this.follow, this);
    for (const remote of this._remotes.values()) {
      remote.dispose();
    }
    this._remotes.clear();
    this.secrets.dispose();
    super.dispose();
  }

  private follow(_: unknown, flow: NotebookFlow | null): void {
    const live = flow && !flow.isDisposed ? flow : null;
    const remote = live ? this.remoteOf(live) : null;
    this._actions.target = live && remote ? { flow: live, remote } : null;
    this._schedules.remote = remote;
    this._notifications.remote = remote;
    this._runs.remote = remote;
  }

  private _notebooks: ICellflowNotebooks;
  private _actions: FlowActionsView;
  private _runs: RunsView;
  private _schedules: SchedulesView;
  private _notifications: NotificationsView;
  private _remotes = new Map<NotebookFlow, RemoteFlowModel>();
}

/**
 * The notebook as deployed: its JSON with `metadata.cellflow.path`, its path in the lab, so a server
 * sharing the lab's root dir runs it in the notebook's own folder (files it writes show up beside it).
 */
function withNotebookPath(json: unknown, path: string): unknown {
  const notebook = (json ?? {}) as { metadata?: Record<string, unknown> };
  const metadata = notebook.metadata ?? {};
  const cellflow = (metadata.cellflow ?? {}) as Record<string, unknown>;
  return {
    ...notebook,
    metadata: { ...metadata, cellflow: { ...cellflow, path } }
  };
}

export namespace CellflowPanel {
  export interface IOptions {
    notebooks: ICellflowNotebooks;
    commands: CommandRegistry;
    client?: CellflowClient;
    translator?: ITranslator;
  }
}
