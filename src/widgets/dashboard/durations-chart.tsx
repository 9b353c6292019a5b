import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { formatDuration } from '../../model/chip-state.js';
import type { IDurationBar } from '../../model/runs-dashboard-model.js';
import { shortId } from './format.js';

const HEIGHT = 60;
const BAR = 18;
const GAP = 3;

/**
 * The recent runs' durations as bars (oldest on the left, one column per grid column, coloured by
 * state): a slow or failing run stands out before any number is read.
 */
export function DurationsChart(props: {
  bars: IDurationBar[];
  selected: string | null;
  trans: TranslationBundle;
  onOpen: (runId: string) => void;
}): JSX.Element | null {
  const { bars, trans } = props;
  const longest = Math.max(1, ...bars.map(b => b.ms ?? 0));
  if (bars.length === 0) {
    return null;
  }
  const width = bars.length * (BAR + GAP);
  return (
    <figure className="jp-CellflowDurations">
      <svg
        role="img"
        aria-label={trans.__('Durations of the recent runs')}
        width={width}
        height={HEIGHT}
        viewBox={`0 0 ${width} ${HEIGHT}`}
      >
        {bars.map((bar, i) => {
          const h =
            bar.ms === null ? 2 : Math.max(2, (bar.ms / longest) * HEIGHT);
          return (
            <rect
              key={bar.runId}
              className={`jp-CellflowDurations-bar${bar.runId === props.selected ? ' jp-mod-selected' : ''}`}
              data-run={bar.runId}
              data-state={bar.state}
              x={i * (BAR + GAP)}
              y={HEIGHT - h}
              width={BAR}
              height={h}
              onClick={() => props.onOpen(bar.runId)}
            >
              <title>
                {`${shortId(bar.runId)} · ${bar.state}${bar.ms === null ? '' : ` · ${formatDuration(bar.ms)}`}`}
              </title>
            </rect>
          );
        })}
      </svg>
      <figcaption className="jp-CellflowHint">
        {trans.__('Longest: %1', formatDuration(longest))}
      </figcaption>
    </figure>
  );
}
