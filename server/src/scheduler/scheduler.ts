/**
 * The scheduler: plans each active schedule's runs ahead of time (state Scheduled, one per tick by the
 * store's unique key, so two schedulers on one database never create a run twice), and at each run's
 * time releases it to Pending as the flow's overlap policy allows, then wakes the run service. One
 * timer, set for the earliest thing to do (a run falling due, a waiting run turning Late, a schedule's
 * planning running low); no polling of due runs. On start, each schedule's missed-run policy decides
 * what the ticks missed during the downtime become.
 */
import {
  nextRuns,
  runsBetween,
  validateSchedule,
  type ScheduleSpec
} from '../../../src/flow/schedule.js';
import {
  acceptsUndeclaredParameters,
  validateParameterValues,
  type FlowSpec
} from '../../../src/flow/index.js';
import type { EventHub } from '../events/hub.js';
import type { RunController } from '../runs/controller.js';
import {
  TransitionConflictError,
  describeStoreError
} from '../store/errors.js';
import type { ActiveSchedule, PlannedTick, Store } from '../store/store.js';
import { decideMissed, type MissedTick } from './missed.js';
import { onSchedulesChanged } from './signal.js';

export interface SchedulerOptions {
  store: Store;
  /** Told after writes that appended events; also heard, to re-check runs waiting for a free slot. */
  hub?: EventHub;
  /** Woken when runs became Pending. */
  runs?: Pick<RunController, 'wake'>;
  /** The clock (tests inject one). */
  now?: () => Date;
  /** How far ahead runs are planned (default 60 s). */
  lookAheadMs?: number;
  /** A due run not started this long after its time becomes Late (default 15 s). */
  lateAfterMs?: number;
  /** At most this many missed ticks per schedule are run or recorded after downtime (default 100). */
  missedCap?: number;
  /** At most this many runs planned per schedule and pass (default 100). */
  maxPlanned?: number;
  /**
   * While runs wait behind the overlap policy, look again this often even if no event says a slot
   * freed (a run ending in another process sends none here). Default 1 s.
   */
  waitingRecheckMs?: number;
  /** false: no timers at all; the caller drives passes with tick() (tests with a manual clock). */
  timers?: boolean;
  /** A pass that failed (the scheduler retries at its next timer). Default: console.error. */
  onError?: (error: unknown) => void;
}

/** What one pass did (tests and logs). */
export interface PassReport {
  at: Date;
  planned: number;
  released: number;
  skipped: number;
  late: number;
  waiting: number;
  /** When the next pass is due (ms since the epoch), or null. */
  nextAt: number | null;
}

/** Timers longer than this are split (Node's limit is 2^31 - 1 ms). */
const MAX_DELAY_MS = 3_600_000;
const ERROR_RETRY_MS = 5_000;

export class Scheduler {
  private readonly store: Store;
  private readonly now: () => Date;
  private readonly lookAheadMs: number;
  private readonly lateAfterMs: number;
  private readonly missedCap: number;
  private readonly maxPlanned: number;
  private readonly waitingRecheckMs: number;
  private timer: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  private again = false;
  private recoverNext = true;
  private stopped = false;
  private readonly waitingSubscriptions = new Map<string, () => void>();
  private readonly unlisten: () => void;
  lastReport: PassReport | null = null;

  constructor(private readonly options: SchedulerOptions) {
    this.store = options.store;
    this.now = options.now ?? (() => new Date());
    this.lookAheadMs = positive('lookAheadMs', options.lookAheadMs, 60_000);
    this.lateAfterMs = positive('lateAfterMs', options.lateAfterMs, 15_000);
    this.missedCap = positive('missedCap', options.missedCap, 100);
    this.maxPlanned = positive('maxPlanned', options.maxPlanned, 100);
    this.waitingRecheckMs = positive(
      'waitingRecheckMs',
      options.waitingRecheckMs,
      1_000
    );
    this.unlisten = onSchedulesChanged(this.store, () => this.wake());
  }

  /** The first pass: missed-run policies over the downtime, then planning; resolves when it is done. */
  async start(): Promise<PassReport | null> {
    this.recoverNext = true;
    return this.tick();
  }

  /** Asks for a pass now (coalesced with one already running). */
  wake(): void {
    if (this.stopped) {
      return;
    }
    if (this.loop) {
      this.again = true;
      return;
    }
    this.loop = this.runPasses().finally(() => {
      this.loop = null;
    });
  }

  /** Runs a pass now and resolves when no pass is left to run. */
  async tick(): Promise<PassReport | null> {
    this.wake();
    while (this.loop) {
      await this.loop;
    }
    return this.lastReport;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unlisten();
    if (this.timer) {
      clearTimeout(this.timer);
    }
    this.timer = null;
    for (const unsubscribe of this.waitingSubscriptions.values()) {
      unsubscribe();
    }
    this.waitingSubscriptions.clear();
    while (this.loop) {
      await this.loop;
    }
  }

  private async runPasses(): Promise<void> {
    do {
      this.again = false;
      try {
        const report = await this.pass();
        this.lastReport = report;
        if (report.nextAt !== null) {
          this.arm(report.nextAt);
        }
      } catch (error) {
        this.reportError(error);
        this.arm(this.now().getTime() + ERROR_RETRY_MS);
      }
    } while (this.again && !this.stopped);
  }

  private reportError(error: unknown): void {
    (this.options.onError ?? defaultOnError)(error);
  }

  private arm(at: number): void {
    if (this.timer) {
      clearTimeout(this.timer);
    }
    this.timer = null;
    if (this.stopped || this.options.timers === false) {
      return;
    }
    const delay = Math.min(
      Math.max(0, at - this.now().getTime()),
      MAX_DELAY_MS
    );
    this.timer = setTimeout(() => {
      this.timer = null;
      this.wake();
    }, delay);
    // The scheduler alone must not keep a process alive (the HTTP server does that).
    this.timer.unref();
  }

  private async pass(): Promise<PassReport> {
    const recover = this.recoverNext;
    this.recoverNext = false;
    const now = this.now();
    const nowMs = now.getTime();
    const touched = new Set<string>();
    const report: PassReport = {
      at: now,
      planned: 0,
      released: 0,
      skipped: 0,
      late: 0,
      waiting: 0,
      nextAt: null
    };
    // Even with nothing scheduled, look again now and then: a schedule may come from another process.
    let nextAt = nowMs + this.lookAheadMs / 2;
    let failed = false;
    try {
      const versions = new Map<string, Promise<FlowSpec | null>>();
      for (const schedule of await this.store.listActiveSchedules()) {
        try {
          const refreshAt = await this.plan(
            schedule,
            now,
            recover,
            versions,
            touched,
            report
          );
          nextAt = Math.min(nextAt, refreshAt);
        } catch (error) {
          // One schedule that cannot be planned must not hold up the others; it is tried again soon.
          this.reportError(
            new Error(
              `schedule ${schedule.id} of flow ${schedule.flowId}: ${errorText(error)}`
            )
          );
          nextAt = Math.min(nextAt, nowMs + ERROR_RETRY_MS);
          failed = true;
        }
      }

      const agenda = await this.store.schedulerAgenda(now);
      if (agenda.nextDueAt) {
        nextAt = Math.min(nextAt, agenda.nextDueAt.getTime());
      }
      const waitingWorkspaces = new Set<string>();
      for (const flowId of agenda.dueFlowIds) {
        let result;
        try {
          result = await this.store.releaseDueRuns(
            flowId,
            now,
            this.lateAfterMs
          );
        } catch (error) {
          this.reportError(
            new Error(`due runs of flow ${flowId}: ${errorText(error)}`)
          );
          nextAt = Math.min(nextAt, nowMs + ERROR_RETRY_MS);
          continue;
        }
        if (!result.workspaceId) {
          continue;
        }
        report.released += result.released.length;
        report.skipped += result.skipped.length;
        report.late += result.late.length;
        report.waiting += result.waiting.length;
        if (
          result.released.length +
          result.skipped.length +
          result.late.length
        ) {
          touched.add(result.workspaceId);
        }
        if (result.waiting.length) {
          waitingWorkspaces.add(result.workspaceId);
        }
        for (const run of result.waiting) {
          if (run.state === 'Scheduled' && run.scheduledAt) {
            nextAt = Math.min(
              nextAt,
              run.scheduledAt.getTime() + this.lateAfterMs
            );
          }
        }
      }
      if (waitingWorkspaces.size) {
        nextAt = Math.min(nextAt, nowMs + this.waitingRecheckMs);
      }
      this.listenForFreeSlots(waitingWorkspaces);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      // A recovery pass that did not finish is done again: the missed-run policies must not be lost.
      if (recover && failed) {
        this.recoverNext = true;
      }
      // Whatever was written before a failure is told about all the same.
      for (const workspaceId of touched) {
        this.options.hub?.notify(workspaceId);
      }
      if (report.released) {
        this.options.runs?.wake();
      }
    }
    report.nextAt = nextAt;
    return report;
  }

  /**
   * Plans one schedule: after downtime its missed ticks by policy, then its upcoming ticks up to the
   * look-ahead. Returns when it needs planning again.
   */
  private async plan(
    schedule: ActiveSchedule,
    now: Date,
    recover: boolean,
    versions: Map<string, Promise<FlowSpec | null>>,
    touched: Set<string>,
    report: PassReport
  ): Promise<number> {
    // Stored schedules were validated, but a row written by hand or by another version is checked
    // again: the maths must never run on a zero interval or a broken expression.
    const valid = validateSchedule(schedule.spec);
    if (!valid.ok) {
      throw new Error(
        `the stored schedule is invalid: ${valid.problems.map(p => `${p.field}: ${p.message}`).join('; ')}`
      );
    }
    const nowMs = now.getTime();
    const half = this.lookAheadMs / 2;
    const planned = schedule.plannedUntil?.getTime() ?? nowMs;
    const refreshAt = (until: number) =>
      Math.max(until - half, nowMs + this.lookAheadMs / 4);

    if (schedule.flowPaused) {
      // A paused flow gets no runs, and its ticks while paused are not missed runs once it resumes.
      if (planned < nowMs) {
        await this.store.planScheduledRuns({
          scheduleId: schedule.id,
          revision: schedule.revision,
          flowVersion: schedule.latestVersion,
          ticks: [],
          plannedUntil: now
        });
      }
      return nowMs + half;
    }
    // Ticks after this were never planned; a tick less than lateAfterMs old is just due, not missed.
    const missedEdge = nowMs - this.lateAfterMs;
    if (!recover && planned > nowMs + half) {
      return refreshAt(planned);
    }

    if (!versions.has(schedule.flowId)) {
      versions.set(
        schedule.flowId,
        this.store
          .getFlowVersion(schedule.workspaceId, schedule.flowId)
          .then(v => (v ? (v.spec as FlowSpec) : null))
      );
    }
    const flowSpec = await versions.get(schedule.flowId)!;
    if (!flowSpec) {
      return nowMs + half;
    }
    const checked = validateParameterValues(
      flowSpec.parameters ?? [],
      schedule.parameters,
      { acceptUndeclared: acceptsUndeclaredParameters(flowSpec) }
    );
    // Parameters a new flow version no longer accepts: each tick is recorded Skipped, saying why.
    const parameters = checked.ok ? checked.values : schedule.parameters;
    const invalid = checked.ok
      ? undefined
      : `the schedule's parameters do not fit flow version ${schedule.latestVersion}: ${checked.errors.join('; ')}`;

    const ticks: PlannedTick[] = [];
    let from = planned;
    if (recover || planned < missedEdge) {
      from = Math.max(planned, missedEdge);
      ticks.push(
        ...(await this.missed(
          schedule,
          planned,
          missedEdge,
          recover,
          parameters,
          touched
        ))
      );
    }
    const spec = schedule.spec as ScheduleSpec;
    const horizon = nowMs + this.lookAheadMs;
    const upcoming = nextRuns(spec, {
      after: new Date(from),
      count: this.maxPlanned
    }).filter(t => t.getTime() <= horizon);
    const plannedUntil =
      upcoming.length === this.maxPlanned
        ? upcoming[upcoming.length - 1].getTime()
        : horizon;
    for (const at of upcoming) {
      ticks.push({
        scheduledAt: at,
        parameters,
        ...(invalid && { skipReason: invalid })
      });
    }
    if (ticks.length || plannedUntil > planned) {
      const result = await this.store.planScheduledRuns({
        scheduleId: schedule.id,
        revision: schedule.revision,
        flowVersion: schedule.latestVersion,
        ticks,
        plannedUntil: new Date(plannedUntil)
      });
      report.planned += result.created.length;
      if (result.created.length && result.workspaceId) {
        touched.add(result.workspaceId);
      }
    }
    return refreshAt(plannedUntil);
  }

  /** The missed ticks in (plannedUntil, missedEdge], decided by the schedule's missed-run policy. */
  private async missed(
    schedule: ActiveSchedule,
    plannedUntil: number,
    missedEdge: number,
    recover: boolean,
    parameters: Record<string, unknown>,
    touched: Set<string>
  ): Promise<PlannedTick[]> {
    const spec = schedule.spec as ScheduleSpec;
    const absent: MissedTick[] =
      plannedUntil < missedEdge
        ? runsBetween(
            spec,
            new Date(plannedUntil),
            new Date(missedEdge),
            this.missedCap
          ).map(at => ({ at }))
        : [];
    // Planned runs still Scheduled long after their time: no scheduler was there to release them (a
    // live one marks waiting runs Late), so they were missed too.
    const overdue: MissedTick[] = recover
      ? (
          await this.store.listOverdueScheduledRuns(
            schedule.id,
            new Date(missedEdge)
          )
        ).map(run => ({ at: run.scheduledAt!, run }))
      : [];
    if (absent.length + overdue.length === 0) {
      return [];
    }
    const decision = decideMissed(
      schedule.missedPolicy,
      [...absent, ...overdue],
      this.missedCap
    );
    for (const { tick, reason } of decision.skip) {
      if (!tick.run) {
        continue;
      }
      try {
        await this.store.transitionRun(tick.run.id, 'Skipped', {
          from: 'Scheduled',
          reason
        });
        touched.add(schedule.workspaceId);
      } catch (error) {
        // Another scheduler decided this run first.
        if (!(error instanceof TransitionConflictError)) {
          throw error;
        }
      }
    }
    await this.store.appendEvent({
      workspaceId: schedule.workspaceId,
      flowId: schedule.flowId,
      type: 'schedule.missed',
      payload: {
        scheduleId: schedule.id,
        policy: schedule.missedPolicy,
        since: new Date(plannedUntil).toISOString(),
        until: new Date(missedEdge).toISOString(),
        run: decision.run.length,
        skipped: decision.skip.length,
        // runsBetween returns at most missedCap ticks: when it is full, older ticks were left out.
        capped: absent.length >= this.missedCap
      }
    });
    touched.add(schedule.workspaceId);
    return [
      ...decision.run
        .filter(t => !t.run)
        .map(t => ({ scheduledAt: t.at, parameters })),
      ...decision.skip
        .filter(s => !s.tick.run)
        .map(s => ({
          scheduledAt: s.tick.at,
          parameters,
          skipReason: s.reason
        }))
    ];
  }

  /** Hear the workspaces whose runs wait for a free slot: a run ending there may free one. */
  private listenForFreeSlots(workspaces: Set<string>): void {
    const hub = this.options.hub;
    if (!hub) {
      return;
    }
    for (const [workspaceId, unsubscribe] of this.waitingSubscriptions) {
      if (!workspaces.has(workspaceId)) {
        unsubscribe();
        this.waitingSubscriptions.delete(workspaceId);
      }
    }
    for (const workspaceId of workspaces) {
      if (!this.waitingSubscriptions.has(workspaceId)) {
        this.waitingSubscriptions.set(
          workspaceId,
          hub.subscribe(workspaceId, () => this.wake())
        );
      }
    }
  }
}

function positive(
  name: string,
  value: number | undefined,
  fallback: number
): number {
  const v = value ?? fallback;
  if (!(v > 0) || !Number.isFinite(v)) {
    throw new RangeError(
      `Scheduler option ${name} must be a positive number, got ${value}`
    );
  }
  return v;
}

/** One bounded line, and for a store error never the query's parameters. */
function errorText(error: unknown): string {
  return describeStoreError(error);
}

function defaultOnError(error: unknown): void {
  console.error(`Cellflow scheduler: ${errorText(error)} (retrying)`);
}

/** Creates a scheduler and runs its first pass (missed runs after downtime, then planning). */
export async function startScheduler(
  options: SchedulerOptions
): Promise<Scheduler> {
  const scheduler = new Scheduler(options);
  await scheduler.start();
  return scheduler;
}
