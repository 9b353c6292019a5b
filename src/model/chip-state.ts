import type { ITaskRun } from '../api/types.js';
import type { TaskStateEvent } from '../flow/runner.js';
import type { MapSpec, TaskSettings } from '../flow/spec.js';
import { formatCacheFor } from '../flow/cache-duration.js';

/** A Completed task's reason on a cache hit, as the run loop writes it (task-cache.ts cachedReason). */
const CACHED_REASON = /^Cached \(from run (\S+)\)$/;

/** The live part of a chip: the state of the task in the latest run, as the run loop reported it. */
export interface ITaskLiveState {
  /** The run loop's task states, plus the run-level Scheduled and Late a server run starts in. */
  state: TaskStateEvent['state'] | 'Scheduled' | 'Late';
  /** 1-based attempt and the maximum (retries + 1), for "Retrying 1/3". */
  attempt: number;
  maxAttempts: number;
  /** When the current state began (ms since epoch): Running shows the elapsed time from here. */
  since: number;
  /** When the task first started running, for "Completed in 1.2 s". */
  startedAt?: number;
  endedAt?: number;
  /** The error's last line for Failed, Crashed and AwaitingRetry. */
  error?: string;
  timedOut?: boolean;
  /** For AwaitingRetry: when the next attempt starts (ms since epoch), for "Retrying 1/3 in 4 s". */
  retryAt?: number;
  /** A cache hit (not executed): the run its result came from, as its id's first 8 characters. */
  cachedFrom?: string;
  /** A Completed task with --cache-for that was not cached, and why ("Not cached: variable …"). */
  note?: string;
}

/** Everything a chip shows: the task's settings at a glance, and its live state when there is one. */
export interface IChipView {
  name: string;
  settings: TaskSettings;
  problems: string[];
  live: ITaskLiveState | null;
  /** `--map NAME=ITERABLE`, for a mapped task. */
  map?: MapSpec | null;
  /** A mapped task's elements in the latest run (`fetch[0]`, ...), in order, as far as reported. */
  elements?: ITaskLiveState[];
  /**
   * How the task ended in an earlier run, while the latest run has not ended it yet: a scheduled run
   * that starts right after a failed one must not hide the failure.
   */
  previous?: ITaskLiveState | null;
}

/** The states a task ends a run in. */
export const ENDED_TASK_STATES: readonly ITaskLiveState['state'][] = [
  'Completed',
  'Failed',
  'Crashed',
  'Cancelled',
  'NotRun'
];

/** What the chip says of an earlier run's end: only failures are worth the room. */
export function describePreviousState(
  previous: ITaskLiveState,
  translate: (text: string, ...args: string[]) => string = plain
): string | null {
  if (previous.state === 'Failed') {
    return translate('last run Failed: %1', previous.error ?? '');
  }
  if (previous.state === 'Crashed') {
    return translate('last run Crashed: %1', previous.error ?? '');
  }
  return null;
}

/** Fold one task-state event of the run loop into the task's live state. */
export function applyTaskEvent(
  previous: ITaskLiveState | null,
  event: TaskStateEvent
): ITaskLiveState {
  const startedAt =
    event.state === 'Running' && event.attempt <= 1
      ? event.at
      : previous?.startedAt;
  const ended = ['Completed', 'Failed', 'Cancelled', 'Crashed', 'NotRun'];
  return {
    state: event.state,
    attempt: event.attempt,
    maxAttempts: event.maxAttempts,
    since: event.at,
    startedAt,
    endedAt: ended.includes(event.state) ? event.at : undefined,
    error: event.error?.summary ?? event.reason,
    timedOut: event.error?.timedOut,
    ...(event.state === 'AwaitingRetry' &&
      event.retryAt !== undefined && { retryAt: event.retryAt }),
    ...(event.state === 'Completed' && cacheInfo(event))
  };
}

/** A Completed event's cache hit (from the loop's `cachedFrom`, or a stored reason) or note. */
function cacheInfo(
  event: TaskStateEvent
): Pick<ITaskLiveState, 'cachedFrom' | 'note'> {
  if (event.cachedFrom) {
    return { cachedFrom: event.cachedFrom.slice(0, 8) };
  }
  const hit = event.reason ? CACHED_REASON.exec(event.reason) : null;
  if (hit) {
    return { cachedFrom: hit[1] };
  }
  return event.reason && /^(Not cached|Ran again): /.test(event.reason)
    ? { note: event.reason }
    : {};
}

/**
 * A task-state event of the Cellflow server (`task_run.state`) in the run loop's terms, so chips show
 * a server run exactly as they show a run here. `maxRetries` comes from the deployed spec.
 */
export function fromServerTaskEvent(
  payload: Record<string, unknown>,
  at: string,
  maxRetries: number
): TaskStateEvent {
  const attempt = typeof payload.attempt === 'number' ? payload.attempt : 0;
  const error = typeof payload.error === 'string' ? payload.error : undefined;
  const reason =
    typeof payload.reason === 'string' ? payload.reason : undefined;
  const retryAt =
    typeof payload.retryAt === 'string' ? Date.parse(payload.retryAt) : NaN;
  return {
    type: 'task-state',
    at: Date.parse(at),
    task: String(payload.taskName ?? ''),
    cellId: '',
    // The store has no NotRun state: a task that never started because an upstream task did not
    // complete is stored Cancelled with that reason; the chip says what happened.
    state: (payload.to === 'Cancelled' && reason?.startsWith('upstream task')
      ? 'NotRun'
      : String(payload.to)) as TaskStateEvent['state'],
    previous: (payload.from as TaskStateEvent['state']) ?? null,
    attempt,
    maxAttempts: maxRetries + 1,
    retry: Math.max(0, attempt - 1),
    maxRetries,
    error: error
      ? {
          ename: error.split(':')[0],
          evalue: error,
          traceback: [],
          summary: error,
          timedOut: /^TimeoutError\b|timed out/.test(error)
        }
      : undefined,
    reason,
    ...(Number.isFinite(retryAt) && { retryAt })
  };
}

/**
 * A stored task run as the event that left it in its state, so a run read again (after a reload)
 * shows on the chips as it showed live: a task skipped for its upstream is Not run in both.
 */
export function fromStoredTaskRun(
  task: Pick<
    ITaskRun,
    | 'taskName'
    | 'state'
    | 'attemptCount'
    | 'startedAt'
    | 'error'
    | 'stateReason'
  > & {
    attempts: Pick<ITaskRun['attempts'][number], 'startedAt' | 'endedAt'>[];
  },
  runCreatedAt: string,
  maxRetries: number
): TaskStateEvent {
  const last = task.attempts[task.attempts.length - 1];
  return fromServerTaskEvent(
    {
      taskName: task.taskName,
      to: task.state,
      attempt: task.attemptCount,
      error: task.error,
      reason: task.stateReason
    },
    last?.endedAt ?? last?.startedAt ?? task.startedAt ?? runCreatedAt,
    maxRetries
  );
}

/** Seconds as people read them: "0.4 s", "12 s", "2 min 5 s". */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 10) {
    return `${seconds.toFixed(1)} s`;
  }
  if (seconds < 60) {
    return `${Math.round(seconds)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

/** Time left, in whole seconds rounded up (a countdown never shows 0 before it ends): "4 s". */
export function formatCountdown(ms: number): string {
  const seconds = Math.ceil(Math.max(0, ms) / 1000);
  return seconds < 60 ? `${seconds} s` : formatDuration(seconds * 1000);
}

/**
 * The chip's status text, e.g. "Running 3.2 s", "Retrying 1/2", "Completed in 0.8 s",
 * "Failed: ValueError: no data". `translate` lets the widget pass its translator.
 */
export function describeLiveState(
  live: ITaskLiveState,
  now: number,
  translate: (text: string, ...args: string[]) => string = plain
): string {
  switch (live.state) {
    case 'Scheduled':
      return translate('Scheduled');
    case 'Late':
      return translate('Late');
    case 'Pending':
      return translate('Pending');
    case 'Running':
      return translate('Running %1', formatDuration(now - live.since));
    case 'AwaitingRetry':
      return live.retryAt !== undefined && live.retryAt > now
        ? translate(
            'Retrying %1/%2 in %3',
            String(live.attempt),
            String(live.maxAttempts - 1),
            formatCountdown(live.retryAt - now)
          )
        : translate(
            'Retrying %1/%2 soon',
            String(live.attempt),
            String(live.maxAttempts - 1)
          );
    case 'Retrying':
      return translate(
        'Retrying %1/%2 %3',
        String(live.attempt - 1),
        String(live.maxAttempts - 1),
        formatDuration(now - live.since)
      );
    case 'Completed':
      if (live.cachedFrom) {
        return translate('Cached (from run %1)', live.cachedFrom);
      }
      return translate(
        'Completed in %1',
        formatDuration((live.endedAt ?? now) - (live.startedAt ?? live.since))
      );
    case 'Failed':
      return live.timedOut
        ? translate('Failed (timed out): %1', live.error ?? '')
        : translate('Failed: %1', live.error ?? '');
    case 'Crashed':
      return translate('Crashed: %1', live.error ?? '');
    case 'Cancelled':
      return translate('Cancelled');
    case 'NotRun':
      return translate('Not run');
  }
}

/**
 * A mapped task's progress over its elements: "7/10 completed, 1 retrying, 1 failed" (the parts
 * that are 0 left out, but for the completed count); empty when no element was reported.
 */
export function describeMapProgress(
  elements: readonly ITaskLiveState[],
  translate: (text: string, ...args: string[]) => string = plain
): string {
  if (elements.length === 0) {
    return '';
  }
  const count = (states: ITaskLiveState['state'][]) =>
    elements.filter(e => states.includes(e.state)).length;
  const total = String(elements.length);
  const parts = [
    translate('%1/%2 completed', String(count(['Completed'])), total)
  ];
  const extra: [ITaskLiveState['state'][], string][] = [
    [['Running'], '%1 running'],
    [['AwaitingRetry', 'Retrying'], '%1 retrying'],
    [['Failed', 'Crashed'], '%1 failed'],
    [['Cancelled', 'NotRun'], '%1 not run']
  ];
  for (const [states, text] of extra) {
    const n = count(states);
    if (n > 0) {
      parts.push(translate(text, String(n)));
    }
  }
  return parts.join(', ');
}

/** The settings summary: "retries 2 · timeout 30 s". Empty when everything is default. */
export function describeSettings(
  settings: TaskSettings,
  translate: (text: string, ...args: string[]) => string = plain,
  map?: MapSpec | null
): string {
  const parts: string[] = [];
  if (map) {
    parts.push(translate('map %1 in %2', map.name, map.over));
  }
  if (settings.retries > 0) {
    parts.push(translate('retries %1', String(settings.retries)));
  }
  if (settings.timeout !== null) {
    parts.push(translate('timeout %1 s', String(settings.timeout)));
  }
  if (settings.cacheFor) {
    parts.push(translate('cached %1', formatCacheFor(settings.cacheFor)));
  }
  return parts.join(' · ');
}

function plain(text: string, ...args: string[]): string {
  return args.reduce(
    (result, arg, i) => result.replace(`%${i + 1}`, arg),
    text
  );
}
