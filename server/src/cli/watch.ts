/**
 * Following a run live for `cellflow run --watch`: reads the run's event stream and turns state changes
 * and log lines into one line each ("extract  Completed in 0.4 s", "transform  Retrying 1/3").
 */
import { ApiClient, CliError, type StreamEvent } from './client.js';
import { formatDuration } from './table.js';
import { parseElementTaskName } from '../../../src/flow/mapping-options.js';

export const TERMINAL_RUN_STATES = new Set([
  'Completed',
  'Failed',
  'Crashed',
  'Cancelled'
]);

// A stream the server closed (a restart, a proxy's idle timeout) is resumed after the last id seen;
// this many reconnects in a row without any new event means the server is gone.
const MAX_QUIET_RECONNECTS = 5;

export interface WatchOptions {
  /** Retries per task, for "Retrying 1/3". */
  retries: Map<string, number>;
  write: (line: string) => void;
}

/** Prints the run's progress until it ends; resolves its final state. */
export async function watchRun(
  client: ApiClient,
  runId: string,
  options: WatchOptions
): Promise<string> {
  const view = new RunView(options);
  let after: string | undefined;
  let quiet = 0;
  while (view.finalState === null) {
    const controller = new AbortController();
    let progressed = false;
    await client.streamEvents(
      { runId, after, signal: controller.signal },
      event => {
        if (event.id !== undefined) {
          after = event.id;
        }
        progressed = true;
        view.handle(event);
        // The run has ended: nothing more will come for it, so stop reading.
        if (view.finalState !== null) {
          controller.abort();
        }
      }
    );
    if (view.finalState !== null) {
      break;
    }
    quiet = progressed ? 0 : quiet + 1;
    if (quiet >= MAX_QUIET_RECONNECTS) {
      const run = await client.getRun(runId);
      if (TERMINAL_RUN_STATES.has(run.state)) {
        view.finish(run.state, run.error);
        break;
      }
      throw new CliError(
        `the event stream of run ${runId} keeps closing without news; the run is ${run.state}`
      );
    }
  }
  if (!view.sawLogs) {
    // A server that does not stream log lines still stores them: show them once the run is over.
    for (const line of await client.logs(runId)) {
      view.log(line.task, line.text);
    }
  }
  return view.finalState!;
}

class RunView {
  finalState: string | null = null;
  sawLogs = false;
  private readonly started = new Map<string, number>();
  private runStarted: number | null = null;
  private width: number;

  constructor(private readonly options: WatchOptions) {
    this.width = Math.max(3, ...[...options.retries.keys()].map(n => n.length));
  }

  handle(event: StreamEvent): void {
    const data = asRecord(event.data);
    const payload = asRecord(data.payload ?? data);
    const at = time(data.at ?? payload.at);
    switch (event.type) {
      case 'run-state':
      case 'flow_run.state':
        this.runState(text(payload.to ?? payload.state), payload, at);
        break;
      case 'task-state':
      case 'task_run.state':
        this.taskState(payload, at);
        break;
      case 'log': {
        // The run service sends lines in batches ({lines: [...]}); a single line is accepted too.
        this.sawLogs = true;
        const lines = Array.isArray(payload.lines) ? payload.lines : [payload];
        for (const line of lines.map(asRecord)) {
          this.log(textOrNull(line.task ?? line.taskName), text(line.text));
        }
        break;
      }
      default:
        break;
    }
  }

  finish(state: string, error: string | null | undefined): void {
    this.finalState = state;
    const detail = error ? `: ${lastLine(error)}` : '';
    this.options.write(`Run ${state}${detail}`);
  }

  log(task: string | null, body: string): void {
    const name = (task ?? '').padEnd(this.width);
    for (const line of body.replace(/\n$/, '').split('\n')) {
      this.options.write(`${name}| ${line}`);
    }
  }

  private runState(
    to: string,
    payload: Record<string, unknown>,
    at: number
  ): void {
    if (to === 'Running') {
      this.runStarted = at;
      this.options.write('Run Running');
      return;
    }
    if (!TERMINAL_RUN_STATES.has(to)) {
      return;
    }
    this.finalState = to;
    const error = textOrNull(payload.error) ?? textOrNull(payload.reason);
    if (to === 'Completed') {
      const took =
        this.runStarted === null
          ? ''
          : ` in ${formatDuration(at - this.runStarted)}`;
      this.options.write(`Run Completed${took}`);
    } else {
      this.options.write(`Run ${to}${error ? `: ${lastLine(error)}` : ''}`);
    }
  }

  private taskState(payload: Record<string, unknown>, at: number): void {
    const task = text(payload.taskName ?? payload.task);
    const to = text(payload.to ?? payload.state);
    const attempt = Number(payload.attempt) || 1;
    const error = textOrNull(payload.error) ?? textOrNull(payload.reason);
    this.width = Math.max(this.width, task.length);
    const name = task.padEnd(this.width);
    switch (to) {
      case 'Pending':
        return;
      case 'Running':
        this.started.set(task, at);
        this.options.write(`${name}  Running`);
        return;
      case 'Retrying': {
        this.started.set(task, at);
        // An element of a mapped task (`fetch[2]`) has its task's retries.
        const retries = this.options.retries.get(
          parseElementTaskName(task)?.task ?? task
        );
        const of = retries === undefined ? '' : `/${retries}`;
        this.options.write(`${name}  Retrying ${attempt - 1}${of}`);
        return;
      }
      case 'AwaitingRetry':
        this.options.write(
          `${name}  Attempt ${attempt} failed${error ? `: ${lastLine(error)}` : ''}; will retry`
        );
        return;
      case 'Completed': {
        const start = this.started.get(task);
        const took =
          start === undefined ? '' : ` in ${formatDuration(at - start)}`;
        this.options.write(`${name}  Completed${took}`);
        return;
      }
      default:
        this.options.write(
          `${name}  ${to}${error ? `: ${lastLine(error)}` : ''}`
        );
    }
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object'
    ? (value as Record<string, unknown>)
    : {};
}

function text(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  return value === null || value === undefined ? '' : String(value);
}

function textOrNull(value: unknown): string | null {
  return typeof value === 'string' && value ? value : null;
}

/** A Python traceback's last line is the one that says what happened ("ValueError: x"). */
function lastLine(error: string): string {
  const lines = error.split('\n').filter(line => line.trim() !== '');
  return lines.at(-1)?.trim() ?? error;
}

function time(value: unknown): number {
  if (typeof value === 'string' || typeof value === 'number') {
    const ms = new Date(value).getTime();
    if (!Number.isNaN(ms)) {
      return ms;
    }
  }
  return Date.now();
}
