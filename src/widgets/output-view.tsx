import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import React, { useLayoutEffect, useRef } from 'react';

/** Outputs are any JSON on the wire; nbformat outputs are objects. */
export function isOutput(output: unknown): output is Record<string, unknown> {
  return typeof output === 'object' && output !== null;
}

/** One stored nbformat output, rendered by JupyterLab's rendermime, as the notebook renders it. */
export function OutputView(props: {
  output: Record<string, unknown>;
  rendermime: IRenderMimeRegistry;
}): JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  // A layout effect: React runs its clean-up before it removes the host from the page (a passive
  // effect's runs after), and Lumino refuses to detach a widget whose node left the page already.
  useLayoutEffect(() => {
    const node = host.current;
    if (!node) {
      return;
    }
    const bundle = toMimeBundle(props.output);
    const mimeType = props.rendermime.preferredMimeType(bundle.data, 'any');
    if (!mimeType) {
      node.textContent = JSON.stringify(props.output);
      return;
    }
    const renderer = props.rendermime.createRenderer(mimeType);
    const model = props.rendermime.createModel({
      data: bundle.data,
      metadata: bundle.metadata,
      trusted: false
    });
    let disposed = false;
    void renderer.renderModel(model).then(() => {
      if (!disposed) {
        Widget.attach(renderer, node);
      }
    });
    return () => {
      disposed = true;
      detachQuietly(renderer);
      renderer.dispose();
    };
  }, [props.output, props.rendermime]);
  return <div className="jp-CellflowOutput" ref={host} />;
}

/**
 * Detaches an attached widget, also when its node already left the page (a parent removed by React
 * first): Widget.detach would throw "Widget is not attached" then, and so would dispose(). The
 * detach messages still reach it, so it knows it is detached.
 */
function detachQuietly(widget: Widget): void {
  if (!widget.isAttached) {
    return;
  }
  if (widget.node.isConnected) {
    Widget.detach(widget);
    return;
  }
  widget.processMessage(Widget.Msg.BeforeDetach);
  widget.node.remove();
  widget.processMessage(Widget.Msg.AfterDetach);
}

/** The mime bundle of an nbformat output (streams and errors as the output area shows them). */
function toMimeBundle(output: Record<string, unknown>): {
  data: Record<string, any>;
  metadata: Record<string, any>;
} {
  switch (output.output_type) {
    case 'stream': {
      const text = Array.isArray(output.text)
        ? output.text.join('')
        : String(output.text ?? '');
      const mime =
        output.name === 'stderr'
          ? 'application/vnd.jupyter.stderr'
          : 'application/vnd.jupyter.stdout';
      return { data: { [mime]: text }, metadata: {} };
    }
    case 'error': {
      const traceback = Array.isArray(output.traceback)
        ? output.traceback.join('\n')
        : '';
      return {
        data: {
          'application/vnd.jupyter.stderr':
            traceback || `${output.ename}: ${output.evalue}`
        },
        metadata: {}
      };
    }
    default:
      return {
        data: (output.data as Record<string, any>) ?? {},
        metadata: (output.metadata as Record<string, any>) ?? {}
      };
  }
}
