/**
 * Schedule maths shared by the JupyterLab panel, the server and the CLI: validating a schedule,
 * its next runs (interval with anchor, or cron on an IANA zone's wall clock, DST included), missed
 * runs in a window, and readable descriptions and previews. Pure TypeScript on Intl: it runs in the
 * browser too.
 */
export type {
  CronSchedule,
  IntervalSchedule,
  MissedPolicy,
  PreviewRun,
  ScheduleCommon,
  ScheduleProblem,
  SchedulePreview,
  ScheduleSpec,
  ScheduleValidation
} from './schedule-types.js';
export { validateSchedule } from './schedule-validate.js';
export { nextRuns, runsBetween } from './schedule-runs.js';
export { parseEvery, tryParseEvery } from './schedule-interval.js';
export { checkCronExpression } from './schedule-cron.js';
export {
  describeRunTime,
  describeSchedule,
  previewSchedule,
  scheduleZone,
  type PreviewOptions,
  type RunTimeDescription
} from './schedule-describe.js';
export {
  canonicalTimeZone,
  formatInZone,
  formatUtc,
  parseIsoTime,
  userTimeZone
} from './schedule-zone.js';
