/**
 * Secrets masked wherever a run could show them, as CI systems mask theirs: every string a run
 * reports (stream text, rich outputs, errors and tracebacks, task state reasons) passes through here
 * before it is stored, published or put in the executed notebook, with each secret's value replaced by
 * `***`.
 *
 * Limits, said where users read them (README): a value is only found whole within one string (a secret
 * printed in two separate writes that land in two stream messages, or transformed by the code: reversed,
 * base64, split, is not recognised), and values shorter than MIN_MASKED_LENGTH are not masked (masking
 * "1" would wreck every output).
 */
export const MASK = '***';
export const MIN_MASKED_LENGTH = 3;

export type Masker = <T>(value: T) => T;

/** Identity when there is nothing to mask. */
export const noMask: Masker = value => value;

export function makeMasker(secrets: Iterable<string>): Masker {
  // Longest first: a secret that contains another is replaced whole.
  const values = [...new Set(secrets)]
    .filter(v => v.length >= MIN_MASKED_LENGTH)
    .sort((a, b) => b.length - a.length);
  if (values.length === 0) {
    return noMask;
  }
  const pattern = new RegExp(values.map(escapeRegExp).join('|'), 'g');
  const maskString = (text: string) => text.replace(pattern, MASK);
  const walk = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') {
      return maskString(value);
    }
    if (depth > 64 || value === null || typeof value !== 'object') {
      return value;
    }
    if (Array.isArray(value)) {
      return value.map(v => walk(v, depth + 1));
    }
    if (value instanceof Date || ArrayBuffer.isView(value)) {
      return value;
    }
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      out[key] = walk(v, depth + 1);
    }
    return out;
  };
  return <T>(value: T) => walk(value, 0) as T;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
