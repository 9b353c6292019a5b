import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import React, { useEffect, useRef } from 'react';

/** One stored nbformat output, rendered by JupyterLab's rendermime, as the notebook renders it. */
export function OutputView(props: {
  output: Record<string, unknown>;
  rendermime: IRenderMimeRegistry;
}): JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
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
      if (renderer.isAttached) {
        Widget.detach(renderer);
      }
      renderer.dispose();
    };
  }, [props.output, props.rendermime]);
  return <div className="jp-CellflowOutput" ref={host} />;
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
