/** Numbers of the summaries as people read them. Pure. */

/**
 * A summary number: whole numbers as they are, others to 4 decimals, and tiny ones in exponent form
 * so that 0.00001 does not read as 0. `locale` is for tests; the lab passes none (the browser's).
 */
export function formatNumber(value: number, locale?: string): string {
  if (!Number.isFinite(value)) {
    return String(value);
  }
  if (value !== 0 && Math.abs(value) < 1e-4) {
    return value.toExponential(3);
  }
  return new Intl.NumberFormat(locale, {
    maximumFractionDigits: Number.isInteger(value) ? 0 : 4,
    useGrouping: false
  }).format(value);
}
