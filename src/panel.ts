import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Panel, Widget } from '@lumino/widgets';

import { cellflowIcon } from './icons';
import { ICellflowNotebooks, PANEL_ID } from './tokens';
import { FlowSection } from './widgets/flow-section';

/**
 * The Cellflow side panel. It holds the sections later features add (connection, flow,
 * parameters, schedules, runs); for now a header and a short explanation.
 */
export class CellflowPanel extends Panel {
  constructor(options: CellflowPanel.IOptions) {
    super();
    const trans = (options.translator ?? nullTranslator).load(
      'jupyterlab_cellflow'
    );
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

    this.addWidget(new FlowSection(options.notebooks, trans));
  }
}

export namespace CellflowPanel {
  export interface IOptions {
    notebooks: ICellflowNotebooks;
    translator?: ITranslator;
  }
}
