import { TranslationBundle } from '@jupyterlab/translation';
import React, { useEffect, useReducer } from 'react';

import type { SchedulePreview } from '../flow/schedule-types.js';

/** setTimeout's longest delay; a later time is waited for in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Draw the component again once `at` (ms since epoch) has passed; nothing when null. */
function useRedrawAt(at: number | null): void {
  const [drawn, redraw] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    if (at === null) {
      return;
    }
    const delay = Math.min(Math.max(0, at - Date.now()) + 20, MAX_DELAY_MS);
    const timer = window.setTimeout(redraw, delay);
    return () => window.clearTimeout(timer);
  }, [at, drawn]);
}

/**
 * A schedule's next run times, each on the schedule zone's clock with the zone's name (and the
 * viewer's time when it differs). Computed from now at each drawing, and drawn again when the first
 * one passes, so the list never shows a past time.
 */
export function ScheduleRunTimes(props: {
  /** The schedule's preview from `now`. */
  preview: (now: Date) => SchedulePreview | null;
  className: string;
  label: string;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { trans } = props;
  const preview = props.preview(new Date());
  const first = preview?.runs[0];
  useRedrawAt(first ? Date.parse(first.at) : null);
  if (!preview || preview.runs.length === 0) {
    return null;
  }
  return (
    <ol className={props.className} aria-label={props.label}>
      {preview.runs.map(run => (
        <li key={run.at} data-at={run.at}>
          {trans.__('%1 %2', run.local, preview.timezone)}
          {run.viewer !== run.local
            ? ` (${trans.__('your time %1', run.viewer)})`
            : ''}
          {run.note ? ` — ${run.note}` : ''}
        </li>
      ))}
    </ol>
  );
}
