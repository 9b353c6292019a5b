/**
 * The "Preview data" button under a DataFrame output in the run view. The preview's code is imported
 * only when the button is first pressed, so it is a chunk of its own, out of the initial bundle.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import React, { useState } from 'react';

import type { DataPreview } from '../widgets/data-preview.js';
import { DATA_RESOURCE_MIME, hasDataResource } from './table-schema.js';

/** Renders nothing unless `output` carries pandas' table schema. */
export function DataPreviewSlot(props: {
  output: Record<string, unknown>;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { output, trans } = props;
  const [Preview, setPreview] = useState<typeof DataPreview | null>(null);
  const [open, setOpen] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!hasDataResource(output)) {
    return null;
  }
  const toggle = async () => {
    if (open) {
      setOpen(false);
      return;
    }
    if (!Preview) {
      setLoading(true);
      try {
        const { DataPreview } = await import('../widgets/data-preview.js');
        // A function component held in state: wrap it, or React calls it as an updater.
        setPreview(() => DataPreview);
        setError(null);
      } catch (e) {
        setError(
          trans.__(
            'Cannot load the data preview: %1',
            e instanceof Error ? e.message : String(e)
          )
        );
        return;
      } finally {
        setLoading(false);
      }
    }
    setOpen(true);
  };
  const data = (output.data as Record<string, unknown>)[DATA_RESOURCE_MIME];
  return (
    <div className="jp-CellflowPreview-slot">
      <button
        type="button"
        className="jp-mod-styled jp-CellflowPreview-toggle"
        aria-expanded={open}
        disabled={loading}
        onClick={() => void toggle()}
      >
        {loading
          ? trans.__('Loading the preview…')
          : open
            ? trans.__('Hide data preview')
            : trans.__('Preview data')}
      </button>
      {error && <p className="jp-CellflowError">{error}</p>}
      {open && Preview && <Preview data={data} trans={trans} />}
    </div>
  );
}
