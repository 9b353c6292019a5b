import { ISignal, Signal } from '@lumino/signaling';

import type { CellflowClient } from '../api/client.js';
import type {
  FlowRunState,
  IFlowRun,
  IRunsQuery,
  RunTrigger
} from '../api/types.js';
import { FLOW_RUN_STATES } from '../flow/run-states.js';
import { messageOf } from './connection-model.js';

/** How many past runs a page of the history holds. */
export const HISTORY_PAGE = 25;
/** How many of the planned runs the history shows apart, soonest first. */
export const UPCOMING_RUNS = 5;

/** The time ranges the history offers, by how far back they reach (ms). */
export const TIME_RANGES = {
  '': 0,
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000
} as const;
export type TimeRange = keyof typeof TIME_RANGES;

export interface IHistoryFilter {
  /** One state, or '' for every state but Scheduled (planned runs are shown apart). */
  state: FlowRunState | '';
  trigger: RunTrigger | '';
  range: TimeRange;
}

/** The states of past runs: everything a run can be but planned. */
export const PAST_STATES: readonly FlowRunState[] = FLOW_RUN_STATES.filter(
  s => s !== 'Scheduled'
);

/** When a run is shown at: when it started, else when it was due, else when it was made. */
export function runTime(run: IFlowRun): number {
  return Date.parse(run.startedAt ?? run.scheduledAt ?? run.createdAt);
}

/** Parameters as people read them: `name: value`, strings unquoted, the rest as JSON. */
export function formatParameters(
  parameters: Record<string, unknown> | undefined
): string {
  return Object.entries(parameters ?? {})
    .map(
      ([name, value]) =>
        `${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`
    )
    .join(', ');
}

/**
 * A flow's run history, as the main area shows it: past runs newest first by their time, filtered by
 * state, trigger and time range, a page at a time (keyset cursors, so runs arriving meanwhile never
 * shift a page); the next planned runs apart, soonest first. Live: `noteRun` places a run the events
 * named where the filters put it.
 */
export class RunHistoryModel {
  constructor(
    private readonly client: () => CellflowClient,
    readonly flowId: string,
    private readonly now: () => number = Date.now
  ) {}

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get filter(): IHistoryFilter {
    return this._filter;
  }

  /** Past runs (as filtered), newest first by their time. */
  get past(): readonly IFlowRun[] {
    return this._past;
  }

  /** The next planned runs, soonest first. */
  get upcoming(): readonly IFlowRun[] {
    return this._upcoming.slice(0, UPCOMING_RUNS);
  }

  get hasMore(): boolean {
    return this._cursor !== null;
  }

  get loading(): boolean {
    return this._loading;
  }

  get error(): string | null {
    return this._error;
  }

  /** Change some filters and read the first page again. */
  async setFilter(change: Partial<IHistoryFilter>): Promise<void> {
    this._filter = { ...this._filter, ...change };
    await this.load();
  }

  /** Reads the first page of past runs and the planned ones. */
  async load(): Promise<void> {
    const generation = ++this._generation;
    this._from = this.rangeStart();
    this._loading = true;
    this._changed.emit();
    try {
      const [page, planned] = await Promise.all([
        this.client().listRunsPage(this.pastQuery()),
        this.client().listRunsPage({
          flowId: this.flowId,
          states: ['Scheduled'],
          limit: 50
        })
      ]);
      if (generation !== this._generation) {
        return;
      }
      this._past = sortPast(page.runs);
      this._cursor = page.nextCursor;
      this._upcoming = sortUpcoming(planned.runs);
      this._error = null;
    } catch (error) {
      if (generation === this._generation) {
        this._error = messageOf(error);
      }
    } finally {
      if (generation === this._generation) {
        this._loading = false;
        this._changed.emit();
      }
    }
  }

  /** Reads the next (older) page of past runs. */
  async more(): Promise<void> {
    if (this._cursor === null || this._loading) {
      return;
    }
    const generation = this._generation;
    this._loading = true;
    this._changed.emit();
    try {
      const page = await this.client().listRunsPage({
        ...this.pastQuery(),
        cursor: this._cursor
      });
      if (generation !== this._generation) {
        return;
      }
      const seen = new Set(this._past.map(r => r.id));
      this._past = sortPast([
        ...this._past,
        ...page.runs.filter(r => !seen.has(r.id))
      ]);
      this._cursor = page.nextCursor;
      this._error = null;
    } catch (error) {
      this._error = messageOf(error);
    } finally {
      this._loading = false;
      this._changed.emit();
    }
  }

  /** A run the events named, as it is now: shown, moved or dropped by the filters. */
  noteRun(run: IFlowRun): void {
    if (run.flowId !== this.flowId) {
      return;
    }
    const without = (runs: IFlowRun[]) => runs.filter(r => r.id !== run.id);
    this._upcoming = without(this._upcoming);
    this._past = without(this._past);
    if (run.state === 'Scheduled') {
      this._upcoming = sortUpcoming([...this._upcoming, run]);
    } else if (this.matches(run)) {
      this._past = sortPast([run, ...this._past]);
    }
    this._changed.emit();
  }

  /** Whether a past run passes the filters (the time range from when the page was read). */
  matches(run: IFlowRun): boolean {
    const { state, trigger } = this._filter;
    if (run.state === 'Scheduled' || (state && run.state !== state)) {
      return false;
    }
    if (trigger && run.trigger !== trigger) {
      return false;
    }
    return this._from === null || runTime(run) >= this._from;
  }

  private pastQuery(): IRunsQuery {
    const { state, trigger } = this._filter;
    return {
      flowId: this.flowId,
      states: state ? [state] : PAST_STATES,
      triggers: trigger ? [trigger] : undefined,
      from:
        this._from === null ? undefined : new Date(this._from).toISOString(),
      limit: HISTORY_PAGE
    };
  }

  private rangeStart(): number | null {
    const span = TIME_RANGES[this._filter.range];
    return span ? this.now() - span : null;
  }

  private _filter: IHistoryFilter = { state: '', trigger: '', range: '' };
  private _from: number | null = null;
  private _past: IFlowRun[] = [];
  private _upcoming: IFlowRun[] = [];
  private _cursor: string | null = null;
  private _loading = false;
  private _error: string | null = null;
  private _generation = 0;
  private _changed = new Signal<this, void>(this);
}

function sortPast(runs: IFlowRun[]): IFlowRun[] {
  return [...runs].sort((a, b) => runTime(b) - runTime(a));
}

function sortUpcoming(runs: IFlowRun[]): IFlowRun[] {
  return [...runs].sort((a, b) => runTime(a) - runTime(b));
}
