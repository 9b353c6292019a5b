/** Plain-text tables and times for the client commands' listings. */

/** Left-aligned columns two spaces apart; the last column is not padded (no trailing blanks). */
export function formatTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) =>
    Math.max(...all.map(row => (row[column] ?? '').length))
  );
  return all
    .map(row =>
      row
        .map((cell, column) =>
          column === row.length - 1 ? cell : cell.padEnd(widths[column])
        )
        .join('  ')
    )
    .join('\n');
}

/** `2026-11-24 13:05:09` in the viewer's zone, or '-' for no time. */
export function formatTime(value: string | Date | null | undefined): string {
  if (value === null || value === undefined || value === '') {
    return '-';
  }
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) {
    return String(value);
  }
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`
  );
}

/** 0.4 s, 12.3 s, 4 min 05 s, 2 h 03 min. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    return '-';
  }
  if (ms < 60_000) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
  }
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** The time between two stamps, or '-' when either is missing. */
export function durationBetween(
  start: string | Date | null | undefined,
  end: string | Date | null | undefined
): string {
  if (!start || !end) {
    return '-';
  }
  return formatDuration(new Date(end).getTime() - new Date(start).getTime());
}
