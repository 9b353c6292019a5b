/**
 * What becomes of the ticks a schedule missed while no scheduler ran, by its missed-run policy. Pure:
 * the scheduler gathers the ticks (never-planned ones, and planned runs left Scheduled) and writes the
 * answer.
 */
import type { MissedPolicy } from '../../../src/flow/schedule.js';
import type { FlowRun } from '../store/store.js';

export interface MissedTick {
  at: Date;
  /** The run planned for this tick before the downtime; absent when it was never planned. */
  run?: FlowRun;
}

export interface MissedDecision {
  /** Ticks to run now (late). */
  run: MissedTick[];
  /** Ticks to record as Skipped runs, each with its reason. */
  skip: { tick: MissedTick; reason: string }[];
}

const WHY = 'missed while no scheduler was running';

/**
 * skip: every missed tick is recorded Skipped, so the history shows the gap. latest: the most recent
 * runs, the rest are Skipped. all: the most recent `cap` run, older planned runs are Skipped. Ticks
 * never planned beyond `cap` are left out (the caller records their window in an event).
 */
export function decideMissed(
  policy: MissedPolicy,
  ticks: MissedTick[],
  cap: number
): MissedDecision {
  const sorted = [...ticks].sort((a, b) => a.at.getTime() - b.at.getTime());
  // Beyond the cap only ticks that already have a run are kept: a planned run must end somewhere.
  const keepFrom = Math.max(0, sorted.length - cap);
  const kept = sorted.filter((t, i) => i >= keepFrom || t.run);
  const recent = (t: MissedTick) => sorted.indexOf(t) >= keepFrom;
  const decision: MissedDecision = { run: [], skip: [] };
  kept.forEach((tick, i) => {
    const last = i === kept.length - 1;
    if (policy === 'all' && recent(tick)) {
      decision.run.push(tick);
    } else if (policy === 'latest' && last) {
      decision.run.push(tick);
    } else {
      const reason =
        policy === 'skip'
          ? `${WHY} (missed-run policy: skip)`
          : policy === 'latest'
            ? `${WHY}; only the latest missed run runs (missed-run policy: latest)`
            : `${WHY}; more than ${cap} missed runs, only the latest ${cap} run (missed-run policy: all)`;
      decision.skip.push({ tick, reason });
    }
  });
  return decision;
}
