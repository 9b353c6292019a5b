import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { formatDuration } from '../../model/chip-state.js';
import type { IGanttBar } from '../../model/runs-dashboard-model.js';

const ROW_HEIGHT = 22;
const LABEL_WIDTH = 140;
const WIDTH = 720;

/** A run's Gantt strip: each task's attempts as bars on one time axis from the run's first start. */
export function GanttStrip(props: {
  bars: IGanttBar[];
  spanMs: number;
  trans: TranslationBundle;
  onTask?: (task: string) => void;
}): JSX.Element | null {
  const { bars, spanMs, trans } = props;
  if (bars.length === 0) {
    return null;
  }
  const tasks = [...new Set(bars.map(b => b.task))];
  const x = (ms: number) =>
    LABEL_WIDTH + (ms / spanMs) * (WIDTH - LABEL_WIDTH - 8);
  const height = tasks.length * ROW_HEIGHT + 20;
  return (
    <svg
      className="jp-CellflowGantt"
      role="img"
      aria-label={trans.__('Task attempts on a time axis')}
      width={WIDTH}
      height={height}
      viewBox={`0 0 ${WIDTH} ${height}`}
    >
      {tasks.map((task, row) => (
        <text
          key={task}
          className="jp-CellflowGantt-label"
          x={4}
          y={row * ROW_HEIGHT + 15}
          onClick={() => props.onTask?.(task)}
        >
          {task}
        </text>
      ))}
      {bars.map(bar => (
        <rect
          key={`${bar.task}-${bar.attempt}`}
          className="jp-CellflowGantt-bar"
          data-state={bar.state}
          data-task={bar.task}
          data-attempt={bar.attempt}
          x={x(bar.fromMs)}
          y={tasks.indexOf(bar.task) * ROW_HEIGHT + 4}
          width={Math.max(2, x(bar.toMs) - x(bar.fromMs))}
          height={ROW_HEIGHT - 8}
        >
          <title>{`${bar.task} #${bar.attempt} · ${bar.state} · ${formatDuration(bar.toMs - bar.fromMs)}`}</title>
        </rect>
      ))}
      <text className="jp-CellflowGantt-axis" x={LABEL_WIDTH} y={height - 4}>
        0
      </text>
      <text
        className="jp-CellflowGantt-axis"
        x={WIDTH - 8}
        y={height - 4}
        textAnchor="end"
      >
        {formatDuration(spanMs)}
      </text>
    </svg>
  );
}
