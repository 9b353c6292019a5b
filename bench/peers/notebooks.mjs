// The notebooks every system runs, made from one source each so the work is the same everywhere.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT } from '../lib.mjs';

const source = cell =>
  Array.isArray(cell.source) ? cell.source.join('') : cell.source;

function notebook(cells) {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3',
        language: 'python'
      }
    },
    cells: cells.map((text, i) => ({
      cell_type: 'code',
      id: `cell-${i}`,
      metadata: {},
      source: text,
      outputs: [],
      execution_count: null
    }))
  };
}

/** The tutorial's ETL notebook (examples/etl.ipynb), as Cellflow deploys it. */
export function etlNotebook() {
  return JSON.parse(readFileSync(join(ROOT, 'examples', 'etl.ipynb'), 'utf8'));
}

/**
 * The same notebook without its `%%task` first lines: without Cellflow's kernel magic a plain kernel
 * (papermill's, jupyter-scheduler's) would stop at "Cell magic `%%task` not found". The code is unchanged.
 */
export function withoutTaskMagic(nb) {
  return {
    ...nb,
    cells: nb.cells.map(cell =>
      cell.cell_type === 'code'
        ? { ...cell, source: source(cell).replace(/^%%task[^\n]*\n/, '') }
        : cell
    )
  };
}

/** One task that fails twice, then succeeds: the kernel is new for each run, so the count starts at 0. */
export function retryNotebook() {
  return notebook([
    '%%task flaky --retries 2 --retry-delay 1\n' +
      "_calls = globals().get('_calls', 0) + 1\n" +
      'if _calls < 3:\n' +
      "    raise RuntimeError('failing on purpose')"
  ]);
}

/** A one-task flow for schedules: Cellflow's own records give the task's start. */
export function tickNotebook() {
  return notebook(['%%task tick\npass']);
}

/** A one-cell notebook that records when it started, for jupyter-scheduler (it keeps no task times). */
export function stampNotebook(markerFile) {
  return notebook([
    `import json, time\nwith open(${JSON.stringify(markerFile)}, 'a') as f:\n` +
      "    f.write(json.dumps({'started': time.time()}) + '\\n')"
  ]);
}
