// The peers table of bench/README.md: one row per figure, a column per system, and Cellflow's ratio to
// the best peer on that row (lower is better on every row), saying which peer wins where one does.
import { summary } from '../lib.mjs';

export const SYSTEMS = [
  'Cellflow',
  'Prefect 3.9.1',
  'papermill 2.7.0',
  'jupyter-scheduler 2.12.1'
];

const number = value =>
  Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1);

/** "median ms (p99 …)" for 100 values or more, else "(max …)"; a note for a system that sits out. */
export function timeCell(values, unit = 'ms') {
  if (typeof values === 'string') {
    return { text: values };
  }
  if (!values || values.length === 0) {
    return { text: '—' };
  }
  const s = summary(values);
  if (s.n === 1) {
    return { text: `${number(s.median)} ${unit}`, median: s.median };
  }
  const tail = s.n >= 100 ? `p99 ${number(s.p99)}` : `max ${number(s.max)}`;
  return {
    text: `${number(s.median)} ${unit} (${tail}; n=${s.n})`,
    median: s.median
  };
}

export function memoryCell(bytes) {
  if (typeof bytes === 'string') {
    return { text: bytes };
  }
  if (bytes === undefined || Number.isNaN(bytes)) {
    return { text: '—' };
  }
  const mb = bytes / 2 ** 20;
  return { text: `${mb.toFixed(0)} MB`, median: mb };
}

/** Cellflow ÷ the best peer's median; "n/a" without a comparable peer. */
function ratioCell(cells) {
  const [cellflow, ...peers] = cells;
  const measured = peers
    .map((cell, i) => ({ cell, name: SYSTEMS[i + 1] }))
    .filter(p => p.cell.median !== undefined && p.cell.median > 0);
  if (cellflow.median === undefined || measured.length === 0) {
    return 'n/a';
  }
  const best = measured.reduce((a, b) =>
    b.cell.median < a.cell.median ? b : a
  );
  const ratio = cellflow.median / best.cell.median;
  const text = `${ratio.toFixed(2)} (vs ${best.name.split(' ')[0]})`;
  return ratio > 1 ? `${text}: **${best.name.split(' ')[0]} wins**` : text;
}

/** rows: [{figure, cells: [Cellflow, Prefect, papermill, jupyter-scheduler]}] → a Markdown table. */
export function renderTable(rows) {
  return [
    `| Figure | ${SYSTEMS.join(' | ')} | Cellflow / best peer |`,
    `|${' --- |'.repeat(SYSTEMS.length + 2)}`,
    ...rows.map(
      row =>
        `| ${row.figure} | ${row.cells.map(c => c.text).join(' | ')} | ${ratioCell(row.cells)} |`
    )
  ].join('\n');
}
