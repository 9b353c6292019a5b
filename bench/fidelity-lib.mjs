// Fidelity beside papermill (issue 21): the notebooks of server/test/notebooks/fidelity, papermill
// 2.7.0 running them, nbformat's validator, and the normalisation that leaves only what a reader of the
// executed notebook would call a difference. Shared by server/test/papermill-fidelity.spec.ts (Cellflow
// through RunService) and bench/fidelity.mjs (Cellflow through its server and CLI), so both compare
// by the same rules.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ROOT } from './lib.mjs';

export const FIDELITY_DIR = join(
  ROOT,
  'server',
  'test',
  'notebooks',
  'fidelity'
);
/** The project's .venv: papermill 2.7.0 is pinned in requirements-dev.txt beside ipykernel and nbformat. */
export const PYTHON = join(ROOT, '.venv', 'bin', 'python');

/**
 * The notebooks, what each covers, the points of issue 21's list it checks (1 ids, 2 no tasks,
 * 3 clear_output and display updates, 4 large outputs, 5 parameters cells with code, 6 the
 * injected-parameters cell, 7 raises-exception, 8 the executed notebook's metadata: language_info,
 * counts, metadata.execution, widgets), and the parameter values both tools get.
 */
export const CASES = [
  {
    file: 'v4.0-basics.ipynb',
    points: [1, 2, 8],
    covers:
      'nbformat 4.0 without ids: prints, results, an object repr, a raw cell, an empty code cell'
  },
  {
    file: 'v4.1-streams.ipynb',
    points: [1, 2, 8],
    covers:
      'nbformat 4.1: stdout/stderr interleaved, no final newline, \\r, a warning, unicode'
  },
  {
    file: 'v4.2-rich-display.ipynb',
    points: [1, 2, 8],
    covers:
      'nbformat 4.2: HTML, Markdown, LaTeX, Math, JSON, SVG, a custom mimetype with metadata, a DataFrame'
  },
  {
    file: 'v4.3-tasks.ipynb',
    points: [1, 8],
    covers:
      'nbformat 4.3: %%task lines, setup cells before tasks, a trailing cell'
  },
  {
    file: 'v4.4-no-tasks.ipynb',
    points: [1, 2, 8],
    covers: 'nbformat 4.4 without %%task lines (one task), a %%time magic'
  },
  {
    file: 'display-updates.ipynb',
    points: [2, 3, 8],
    covers:
      'display(..., display_id=True) and .update, a shared display_id, an update from a later cell'
  },
  {
    file: 'clear-output.ipynb',
    points: [2, 3, 8],
    covers:
      'clear_output() and clear_output(wait=True) loops, a wait clear at a cell end'
  },
  {
    file: 'large-png.ipynb',
    points: [2, 4, 8],
    covers: 'a ~3 MB PNG (zlib + struct) shown with IPython.display.Image'
  },
  {
    file: 'parameters.ipynb',
    points: [2, 5, 6, 8],
    covers:
      'a parameters cell with an import and expressions, four of its values given',
    parameters: { msg: 'Hello', count: 3, ratio: 2.5, flag: true }
  },
  {
    file: 'raises-exception.ipynb',
    points: [2, 7, 8],
    covers: 'cells tagged raises-exception: the error is shown, the run goes on'
  },
  {
    file: 'widgets.ipynb',
    points: [2, 8],
    covers:
      'an ipywidgets slider shown and changed; the source carries stale widget state'
  }
];

export function readCase(file) {
  return JSON.parse(readFileSync(join(FIDELITY_DIR, file), 'utf8'));
}

/**
 * The `%%task` registration the lab runs in every Python kernel (src/notebook/magic-registration.ts),
 * read from its source so papermill's kernel gets exactly what a Jupyter user's kernel gets.
 */
export function taskMagicCode() {
  const source = readFileSync(
    join(ROOT, 'src', 'notebook', 'magic-registration.ts'),
    'utf8'
  );
  const found = /REGISTER_TASK_MAGIC = `([^`]*)`/.exec(source);
  if (!found) {
    throw new Error('REGISTER_TASK_MAGIC not found in magic-registration.ts');
  }
  // Evaluated as the template literal it is (it has escapes and no substitutions).
  return new Function(`return \`${found[1]}\`;`)();
}

/**
 * A temporary folder for papermill: its cwd, and an IPYTHONDIR whose startup file registers `%%task`.
 * Without it papermill's kernel refuses a task cell (UsageError: Cell magic `%%task` not found): in
 * Jupyter the Cellflow extension registers the magic in the kernel, and papermill has no extension.
 */
export function papermillWorkdir() {
  const dir = mkdtempSync(join(tmpdir(), 'cellflow-papermill-'));
  const startup = join(dir, 'ipython', 'profile_default', 'startup');
  mkdirSync(startup, { recursive: true });
  writeFileSync(join(startup, '00-cellflow-task.py'), taskMagicCode());
  return {
    dir,
    ipythondir: join(dir, 'ipython'),
    remove: () => rmSync(dir, { recursive: true, force: true })
  };
}

/**
 * papermill's `-p name value` for each value, in the given order (papermill injects them in the order
 * its CLI collected them; `-r` values would come after every `-p` one). papermill reads a `-p` value
 * as Python would a literal (3 → int, 2.5 → float, True → bool, else str), so a string that would
 * read as something else is refused here rather than silently typed differently.
 */
export function papermillArgs(parameters = {}) {
  const args = [];
  for (const [name, value] of Object.entries(parameters)) {
    if (typeof value === 'string') {
      if (/^(-?[\d.]+(e-?\d+)?|True|False|None|inf|nan)$/i.test(value)) {
        throw new Error(`"${value}" would reach papermill as a non-string`);
      }
      args.push('-p', name, value);
    } else if (typeof value === 'boolean') {
      args.push('-p', name, value ? 'True' : 'False');
    } else if (typeof value === 'number') {
      args.push('-p', name, String(value));
    } else {
      throw new Error(`no papermill -p form for ${JSON.stringify(value)}`);
    }
  }
  return args;
}

/**
 * `python -m papermill IN OUT ... --kernel python3` in `work.dir`. Resolves with the executed notebook,
 * the wall time and papermill's exit code (1 when a cell has an error output, even one tagged
 * raises-exception: see normalise).
 */
export function runPapermill(file, parameters, work) {
  const output = join(
    work.dir,
    `${file.replace(/\.ipynb$/, '')}-${process.hrtime.bigint()}.ipynb`
  );
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [
        '-m',
        'papermill',
        join(FIDELITY_DIR, file),
        output,
        ...papermillArgs(parameters),
        '--kernel',
        'python3',
        '--no-progress-bar'
      ],
      {
        cwd: work.dir,
        env: { ...process.env, IPYTHONDIR: work.ipythondir },
        maxBuffer: 64 * 1024 * 1024
      },
      (error, _stdout, stderr) => {
        const ms = performance.now() - started;
        let notebook;
        try {
          notebook = JSON.parse(readFileSync(output, 'utf8'));
        } catch {
          reject(
            new Error(`papermill wrote no notebook for ${file}: ${stderr}`)
          );
          return;
        }
        rmSync(output, { force: true });
        resolve({
          notebook,
          ms,
          exitCode: error ? (error.code ?? 1) : 0,
          stderr
        });
      }
    );
  });
}

/**
 * What the comparison assumes of .venv: papermill's version, and that `black` cannot be imported
 * (papermill would then reformat its injected-parameters cell). Resolves with { papermill, black }.
 */
export function papermillEnvironment() {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [
        '-c',
        'import importlib.util, json, papermill\n' +
          'print(json.dumps({"papermill": papermill.__version__,\n' +
          '                  "black": importlib.util.find_spec("black") is not None}))'
      ],
      (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout)))
    );
  });
}

/** nbformat.validate on the notebook as it is (no conversion); resolves with the complaint, '' if valid. */
export function nbformatComplaint(notebook) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      PYTHON,
      [
        '-c',
        'import nbformat, sys\n' +
          'nb = nbformat.reads(sys.stdin.read(), as_version=nbformat.NO_CONVERT)\n' +
          'nbformat.validate(nb)'
      ],
      { maxBuffer: 64 * 1024 * 1024 },
      (error, _stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve(error ? stderr.split('\n').slice(-4).join('\n').trim() : '');
      }
    );
    child.stdin.end(JSON.stringify(notebook));
  });
}

// ---------------------------------------------------------------------------------------------------
// Normalisation. Each rule says why it exists; anything not named here is compared as it is.

/** papermill's marker cells: added after the run when any cell has an error output (see normalise). */
const PAPERMILL_ERROR_TAG = 'papermill-error-cell-tag';
const INJECTED_TAG = 'injected-parameters';
/** Strings longer than this are compared by digest, so a failing test prints a readable diff. */
const DIGEST_OVER = 16 * 1024;

const isRecord = value =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** nbformat's multiline strings: a list of lines on disk (papermill) and one string in memory (Cellflow). */
const joined = value => (Array.isArray(value) ? value.join('') : value);

function digest(text) {
  if (typeof text !== 'string' || text.length <= DIGEST_OVER) {
    return text;
  }
  const sha = createHash('sha256').update(text).digest('hex').slice(0, 16);
  return `<${text.length} chars, sha256 ${sha}>`;
}

/** A time as `%%time` prints it (IPython's _format_time): `%.3g` and a unit, or `1min 2s`. */
const TIME_VALUE =
  /\d+(?:\.\d+)?(?:e[+-]\d+)?\s*(?:ns|µs|μs|us|ms|s)\b|\d+(?:d|h|min|s)(?: \d+(?:d|h|min|s))*\b/g;

/**
 * Volatile text inside outputs, the same in both tools' output but different from run to run:
 * - memory addresses (`<object object at 0x7f64e006f370>`): each kernel process allocates elsewhere;
 * - ipykernel's folder for cell files, `/tmp/ipykernel_<pid>/` (warnings and tracebacks name it): the
 *   kernel's process id;
 * - `%%time`'s CPU and wall times, in every form IPython's _format_time (magics/execution.py) gives
 *   them: under a minute `%.3g` and a unit, so a value that rounds up to 1000 of its unit comes out in
 *   exponent form, `1e+03 ns`: a CPU time of 1 µs often does, being the difference of two getrusage
 *   floats (9.99…e-07 s; seen under load: papermill `sys: 1 μs`, Cellflow `sys: 1e+03 ns`, which the
 *   earlier `[\d.]+` rule left as `1e+<time>`); from a minute on, `1min 2s`.
 */
function volatileText(text) {
  if (typeof text !== 'string') {
    return text;
  }
  return text
    .replace(/0x[0-9a-f]{6,16}/g, '0x<address>')
    .replace(/\/tmp\/ipykernel_\d+\//g, '/tmp/ipykernel_<pid>/')
    .replace(/^(CPU times: .*|Wall time: .*)$/gm, line =>
      line.replace(TIME_VALUE, '<time>')
    );
}

/** A traceback line: volatile text, and `In[N]` of `Cell In[N], line L` (a count) labelled as counts are. */
function tracebackLine(line, counts) {
  return volatileText(line).replace(
    /(In ?\[)(\d+)(\])/g,
    (_m, open, n, close) => {
      const label = counts.get(Number(n));
      return label ? `${open}${label}${close}` : `${open}${n}${close}`;
    }
  );
}

/**
 * Execution counts are compared by rank: the k-th cell that ran shows `#k`, provided the numbers
 * increase down the notebook (as a top-to-bottom run leaves them); otherwise they stay raw numbers and
 * differ. The absolute number is not compared: papermill executes its injected-parameters cell as a
 * cell (one count), Cellflow passes the values as data outside the cell history, so any count after it
 * is one apart with nothing else different. Whether a cell has a count, the order, an execute_result's
 * count equal to its cell's, and the `In[N]` of a traceback are all still compared.
 */
function countLabels(cells) {
  const numbers = cells
    .filter(c => c.cell_type === 'code')
    .map(c => c.execution_count)
    .filter(n => typeof n === 'number');
  const increasing = numbers.every((n, i) => i === 0 || n > numbers[i - 1]);
  return new Map(
    numbers.map((n, i) => [n, increasing ? `#${i + 1}` : `raw ${n}`])
  );
}

/**
 * ipywidgets model ids are new uuids in every kernel: each gets a name from where it is first met
 * (outputs in notebook order, then the models their state refers to; models no output leads to are
 * named apart, in model-name order),
 * so the same widgets in the same places compare equal.
 */
function widgetNames(notebook) {
  const state =
    notebook.metadata?.widgets?.['application/vnd.jupyter.widget-state+json']
      ?.state ?? {};
  const order = [];
  const seen = new Set();
  const visit = id => {
    if (typeof id !== 'string' || seen.has(id)) {
      return;
    }
    seen.add(id);
    order.push(id);
    const model = state[id];
    if (isRecord(model) && isRecord(model.state)) {
      for (const key of Object.keys(model.state).sort()) {
        const value = model.state[key];
        for (const ref of JSON.stringify(value).matchAll(
          /IPY_MODEL_([0-9a-f]{32})/g
        )) {
          visit(ref[1]);
        }
      }
    }
  };
  for (const cell of notebook.cells ?? []) {
    for (const output of cell.outputs ?? []) {
      visit(
        output.data?.['application/vnd.jupyter.widget-view+json']?.model_id
      );
    }
  }
  const names = new Map(order.map((id, i) => [id, `<widget ${i + 1}>`]));
  // Models no output shows, nor any model it refers to (stale state, say): named apart, by model name.
  Object.keys(state)
    .filter(id => !seen.has(id))
    .sort((a, b) =>
      String(state[a]?.model_name).localeCompare(String(state[b]?.model_name))
    )
    .forEach((id, i) => names.set(id, `<widget not shown ${i + 1}>`));
  return names;
}

function renameWidgets(value, names) {
  if (names.size === 0) {
    return value;
  }
  const rename = text => {
    let out = text;
    for (const [id, name] of names) {
      out = out.split(id).join(name);
    }
    return out;
  };
  const walk = v => {
    if (typeof v === 'string') {
      return v.length > DIGEST_OVER ? v : rename(v);
    }
    if (Array.isArray(v)) {
      return v.map(walk);
    }
    if (isRecord(v)) {
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [rename(k), walk(x)])
      );
    }
    return v;
  };
  return walk(value);
}

/**
 * Consecutive pieces of one stream as one output. ipykernel sends what a cell printed in pieces, one
 * per flush of its buffer (a timer, OutStream.flush_interval = 0.2 s), and `print` writes its text and
 * its newline apart: when the timer fires between the two (a loaded machine), the text and "\n" arrive
 * as two outputs, in either tool, from one run to the next (seen: Cellflow "still going" + "\n" where
 * papermill had "still going\n"). JupyterLab shows such pieces as one text. Only neighbours of the same
 * name merge: the order of stdout and stderr is still compared.
 */
function mergeStreams(outputs) {
  const merged = [];
  for (const output of outputs) {
    const last = merged[merged.length - 1];
    if (
      output.output_type === 'stream' &&
      last?.output_type === 'stream' &&
      last.name === output.name
    ) {
      merged[merged.length - 1] = {
        ...last,
        text: joined(last.text) + joined(output.text)
      };
    } else {
      merged.push(output);
    }
  }
  return merged;
}

function normaliseOutput(output, cellCount, counts) {
  const out = { ...output };
  if ('text' in out) {
    out.text = digest(volatileText(joined(out.text)));
  }
  if (isRecord(out.data)) {
    out.data = Object.fromEntries(
      Object.entries(out.data).map(([mime, value]) => [
        mime,
        typeof value === 'string' || Array.isArray(value)
          ? digest(volatileText(joined(value)))
          : value
      ])
    );
  }
  if (Array.isArray(out.traceback)) {
    out.traceback = out.traceback.map(line => tracebackLine(line, counts));
  }
  if ('execution_count' in out) {
    out.execution_count =
      typeof out.execution_count === 'number' &&
      out.execution_count === cellCount
        ? counts.get(cellCount)
        : `raw ${out.execution_count} (cell's is ${cellCount})`;
  }
  return out;
}

/**
 * The comparable form of an executed notebook. `source` is the input notebook (for which cells had ids).
 * Returns { nbformat, metadata, cells } to compare, and `notes` on what was set aside (not compared).
 */
export function normalise(executed, source) {
  const sourceHasIds = (source.cells ?? []).some(c => typeof c.id === 'string');
  const names = widgetNames(executed);
  const nb = renameWidgets(executed, names);
  const notes = [];

  // papermill 2.7.0 adds two markdown cells (an error banner at the top, an anchor before the failing
  // cell) whenever any cell has an error output: raise_for_execution_errors (papermill/execute.py) does
  // not read the raises-exception tag, although its executor (nbclient) did honour it and ran on. They
  // are papermill's report of the run, not cells of the notebook: set aside.
  const cells = (nb.cells ?? []).filter(
    c => !(c.metadata?.tags ?? []).includes(PAPERMILL_ERROR_TAG)
  );
  if (cells.length !== (nb.cells ?? []).length) {
    notes.push('papermill error banner cells set aside');
  }
  const counts = countLabels(cells);

  const metadata = { ...nb.metadata };
  // papermill's own record (paths, times, parameters) and Cellflow's (run id, times): each tool's.
  delete metadata.papermill;
  delete metadata.cellflow;

  return sortKeys({
    // nbformat_minor is not compared: papermill upgrades every notebook to 4.5 and gives the cells of
    // an older one new random ids (nbformat.v4.upgrade); Cellflow keeps the notebook's version and
    // cells as they were and keys cells without ids internally (issue 21, point 1). Both validate.
    nbformat: nb.nbformat,
    metadata,
    cells: cells.map(cell => {
      const injected = (cell.metadata?.tags ?? []).includes(INJECTED_TAG);
      const out = { cell_type: cell.cell_type };
      // Ids: compared when the input notebook had them (both tools must keep them). The cell a tool
      // adds (injected-parameters) gets a new random id in papermill: only its presence is compared.
      // In an older notebook papermill's ids are random (above) and Cellflow adds none.
      if (sourceHasIds) {
        out.id = injected
          ? typeof cell.id === 'string' && cell.id !== ''
            ? '<new id>'
            : cell.id
          : cell.id;
      }
      const metadata = { ...cell.metadata };
      // Per-cell records of each tool: papermill's times and status, Cellflow's task settings.
      delete metadata.papermill;
      delete metadata.cellflow;
      // nbclient's timing: the same keys, times of this run.
      if (isRecord(metadata.execution)) {
        metadata.execution = Object.fromEntries(
          Object.keys(metadata.execution)
            .sort()
            .map(k => [k, '<time>'])
        );
      }
      // papermill writes `tags: []` into every cell it did not tag: the same as no tags.
      if (Array.isArray(metadata.tags) && metadata.tags.length === 0) {
        delete metadata.tags;
      }
      out.metadata = metadata;
      out.source = joined(cell.source);
      if (cell.cell_type === 'code') {
        const count = cell.execution_count;
        out.execution_count =
          typeof count === 'number' ? counts.get(count) : count;
        out.outputs = mergeStreams(cell.outputs ?? []).map(o =>
          normaliseOutput(o, count, counts)
        );
      } else if ('attachments' in cell) {
        out.attachments = cell.attachments;
      }
      return out;
    }),
    notes
  });
}

/** Cells compared and cells identical, for two normalised notebooks (cells paired by position). */
export function tally(cellflow, papermill) {
  const length = Math.max(cellflow.cells.length, papermill.cells.length);
  let identical = 0;
  const differing = [];
  for (let i = 0; i < length; i++) {
    if (
      JSON.stringify(cellflow.cells[i]) === JSON.stringify(papermill.cells[i])
    ) {
      identical++;
    } else {
      differing.push(i);
    }
  }
  const metadataSame =
    JSON.stringify(sortKeys(cellflow.metadata)) ===
    JSON.stringify(sortKeys(papermill.metadata));
  return { compared: length, identical, differing, metadataSame };
}

/** A copy with object keys sorted, so key order (which JSON readers ignore) never makes a difference. */
export function sortKeys(value) {
  if (Array.isArray(value)) {
    return value.map(sortKeys);
  }
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map(k => [k, sortKeys(value[k])])
    );
  }
  return value;
}
