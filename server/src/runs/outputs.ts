/**
 * Keeping what a run printed: attempt outputs under a size cap (a task that prints a 1 GB frame must not
 * fill the store), and stream text cut into log lines.
 */
import type { KernelOutput } from '../../../src/flow/kernel.js';

/**
 * Per attempt (and per executed-notebook cell): the JSON size of the outputs kept. Room for what
 * notebooks print and plot (a matplotlib PNG of a few MB is about 4/3 of that in base64);
 * `cellflow server --output-cap MB` sets it.
 */
export const DEFAULT_OUTPUT_CAP_BYTES = 16 * 1024 * 1024;

/**
 * Collects outputs until their JSON passes the cap, then counts what it drops. The outputs of one
 * attempt may come from several cells (a task's setup cells, then the task): each cell's are a
 * segment of their own (`key`), so a clear_output or a display update (OutputsClearedEvent,
 * OutputUpdatedEvent) reaches that cell's outputs only; outputs() lists the segments in order.
 */
export class OutputCollector {
  private readonly segments = new Map<string, Kept[]>();
  // The JSON of the kept list: its brackets, then each output and its comma.
  private bytes = 2;
  private count = 0;
  private dropped = 0;

  constructor(private readonly capBytes = DEFAULT_OUTPUT_CAP_BYTES) {}

  add(output: KernelOutput, key = ''): void {
    if (this.dropped > 0) {
      this.dropped++;
      return;
    }
    const size = sizeOf(output);
    if (this.bytes + size + (this.count > 0 ? 1 : 0) > this.capBytes) {
      this.dropped++;
      return;
    }
    this.bytes += size + (this.count > 0 ? 1 : 0);
    this.count++;
    let segment = this.segments.get(key);
    if (!segment) {
      segment = [];
      this.segments.set(key, segment);
    }
    segment.push({ output, size });
  }

  /** clear_output in the cell of `key`. */
  clear(key = ''): void {
    const segment = this.segments.get(key);
    if (!segment) {
      return;
    }
    for (const { size } of segment) {
      this.bytes -= size + 1;
    }
    this.count -= segment.length;
    if (this.count === 0) {
      this.bytes = 2;
    }
    segment.length = 0;
  }

  /**
   * A display updated in place: the output at `index` of the cell's outputs. One that was dropped
   * stays dropped; an update that would pass the cap is counted as dropped.
   */
  update(index: number, output: KernelOutput, key = ''): void {
    const kept = this.segments.get(key)?.[index];
    if (!kept) {
      return;
    }
    const size = sizeOf(output);
    if (this.bytes + size - kept.size > this.capBytes) {
      this.dropped++;
      return;
    }
    this.bytes += size - kept.size;
    kept.output = output;
    kept.size = size;
  }

  get truncated(): boolean {
    return this.dropped > 0;
  }

  /** The kept outputs, plus a note saying what was cut when the cap was reached. */
  outputs(): KernelOutput[] {
    const kept = [...this.segments.values()].flat().map(k => k.output);
    if (!this.truncated) {
      return kept;
    }
    const note: KernelOutput = {
      output_type: 'stream',
      name: 'stderr',
      text:
        `[Cellflow] outputs truncated: ${this.dropped} more output(s) dropped ` +
        `after ${describeBytes(this.capBytes)}\n`
    };
    return [...kept, note];
  }
}

interface Kept {
  output: KernelOutput;
  /** Its JSON's size in bytes. */
  size: number;
}

function sizeOf(output: KernelOutput): number {
  return Buffer.byteLength(JSON.stringify(output), 'utf8');
}

function describeBytes(bytes: number): string {
  return bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0
    ? `${bytes / (1024 * 1024)} MB`
    : `${Math.round(bytes / 1024)} KB`;
}

/** nbformat allows multiline strings as arrays of lines. */
export function outputText(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  if (Array.isArray(value)) {
    return value.map(v => String(v)).join('');
  }
  return '';
}

// CSI sequences (colours in IPython tracebacks): logs are read as plain text.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/**
 * Turns stream chunks into whole lines: a chunk may end mid-line, so the rest waits for the next chunk
 * (or for flush at the end of the attempt).
 */
export class LineSplitter {
  private partial = '';

  push(text: string): string[] {
    const joined = this.partial + text;
    const parts = joined.split('\n');
    this.partial = parts.pop() ?? '';
    return parts.map(stripCr);
  }

  flush(): string[] {
    const rest = this.partial;
    this.partial = '';
    return rest === '' ? [] : [stripCr(rest)];
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/**
 * What PostgreSQL cannot store of a kernel's text, replaced with U+FFFD (the replacement character):
 * the NUL character (text columns and jsonb refuse it) and lone UTF-16 surrogates (no UTF-8 for them:
 * jsonb refuses their escapes, text would get them mangled). Everything else stays as it is.
 */
const UNSTORABLE =
  // eslint-disable-next-line no-control-regex
  /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export const REPLACEMENT_CHARACTER = '\uFFFD';

export function storableText(text: string): string;
export function storableText(text: string | null): string | null;
export function storableText(text: string | null): string | null {
  return text === null ? null : text.replace(UNSTORABLE, REPLACEMENT_CHARACTER);
}

/**
 * `value` with storableText applied to every string in it, object keys included: the one way all a
 * run reports (outputs, log text, errors, reasons; the executed notebook built from them) reaches the
 * store. Values that need nothing are returned as they are.
 */
export function storable<T>(value: T): T {
  return walkStorable(value, 0) as T;
}

function walkStorable(value: unknown, depth: number): unknown {
  if (typeof value === 'string') {
    return storableText(value);
  }
  if (depth > 64 || value === null || typeof value !== 'object') {
    return value;
  }
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map(v => {
      const w = walkStorable(v, depth + 1);
      changed ||= w !== v;
      return w;
    });
    return changed ? out : value;
  }
  if (value instanceof Date || ArrayBuffer.isView(value)) {
    return value;
  }
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const k = storableText(key);
    const w = walkStorable(v, depth + 1);
    changed ||= k !== key || w !== v;
    out[k] = w;
  }
  return changed ? out : value;
}
