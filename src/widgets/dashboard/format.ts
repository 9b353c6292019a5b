import { formatDuration } from '../../model/chip-state.js';

/** A duration from `from` to `to` (or to now while it goes); '' before it started. */
export function durationText(
  from?: string | null,
  to?: string | null,
  now = Date.now()
): string {
  if (!from) {
    return '';
  }
  return formatDuration((to ? Date.parse(to) : now) - Date.parse(from));
}

/** A time as people read it in a list: the date only when it is not today. */
export function timeText(iso?: string | null, now = new Date()): string {
  if (!iso) {
    return '';
  }
  const at = new Date(iso);
  return at.toDateString() === now.toDateString()
    ? at.toLocaleTimeString()
    : at.toLocaleString();
}

/** The short id the panel, the CLI and the server's prefix lookup share. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}
