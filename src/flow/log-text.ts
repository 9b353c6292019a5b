/**
 * A stored log line's text as display rows, for the panel's run view and `cellflow logs` alike: a
 * line may hold several (a print of "a\nb") and may or may not end with its newline, so rows are
 * split on line breaks and a final break adds no empty row.
 */
export function logTextRows(text: string): string[] {
  return text.replace(/\r?\n$/, '').split(/\r?\n/);
}
