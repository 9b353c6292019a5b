/** The scheduler service: plans schedules' runs ahead and releases them at their time. */
export {
  Scheduler,
  startScheduler,
  type PassReport,
  type SchedulerOptions
} from './scheduler.js';
export {
  decideMissed,
  type MissedDecision,
  type MissedTick
} from './missed.js';
export { onSchedulesChanged, schedulesChanged } from './signal.js';
export { nextRunTimes } from './next-runs.js';
