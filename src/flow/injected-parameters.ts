/**
 * The source of the `injected-parameters` cell an executed notebook shows after its parameters cell,
 * written as papermill's Python translator writes it, so a Cellflow run and a papermill run of the
 * same notebook with the same values read the same. Cellflow itself never runs this text: values are
 * injected as JSON data (parameterInjectionCode); this is how the kernel then holds them.
 */

/** papermill's tag for the cell it injects; an executed notebook has at most one. */
export const INJECTED_PARAMETERS_TAG = 'injected-parameters';

/** `# Parameters` and one `name = value` line per value, in the order given. */
export function injectedParametersSource(
  values: Record<string, unknown>
): string {
  let source = '# Parameters\n';
  for (const [name, value] of Object.entries(values)) {
    source += `${name} = ${pythonValue(value)}\n`;
  }
  return source;
}

/**
 * A JSON value as Python reads it back from the injected JSON: what `json.loads` gives, written the
 * way papermill's translator writes that Python value.
 */
export function pythonValue(value: unknown): string {
  if (value === null || value === undefined) {
    return 'None';
  }
  if (typeof value === 'string') {
    return pythonString(value);
  }
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (typeof value === 'number') {
    return pythonNumber(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map(pythonValue).join(', ')}]`;
  }
  if (typeof value === 'object') {
    const items = Object.entries(value as Record<string, unknown>).map(
      ([key, item]) => `${pythonString(key)}: ${pythonValue(item)}`
    );
    return `{${items.join(', ')}}`;
  }
  return String(value);
}

/**
 * papermill's escaped string: Python's `unicode_escape` codec (backslash, control and non-ASCII
 * characters as escapes), then `"` escaped, in double quotes.
 */
function pythonString(text: string): string {
  let out = '';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === '\\') {
      out += '\\\\';
    } else if (char === '\n') {
      out += '\\n';
    } else if (char === '\r') {
      out += '\\r';
    } else if (char === '\t') {
      out += '\\t';
    } else if (char === '"') {
      out += '\\"';
    } else if (code < 0x20 || (code >= 0x7f && code < 0x100)) {
      out += `\\x${code.toString(16).padStart(2, '0')}`;
    } else if (code >= 0x100 && code < 0x10000) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else if (code >= 0x10000) {
      out += `\\U${code.toString(16).padStart(8, '0')}`;
    } else {
      out += char;
    }
  }
  return `"${out}"`;
}

/**
 * A number as Python's repr writes what `json.loads` made of JavaScript's JSON for it: a whole number
 * is an int (JSON has no 1.0), anything else a float in Python's shortest repr (fixed notation for
 * exponents -4 to 15, else `d.ddde+XX` with at least two exponent digits).
 */
function pythonNumber(value: number): string {
  if (!Number.isFinite(value)) {
    // Never in stored values (they are JSON), kept for completeness as papermill writes them.
    return Number.isNaN(value)
      ? "float('nan')"
      : value < 0
        ? "float('-inf')"
        : "float('inf')";
  }
  if (Number.isInteger(value) && JSON.stringify(value).indexOf('e') === -1) {
    return JSON.stringify(value);
  }
  const [mantissa, exponentText] = value.toExponential().split('e');
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exponent >= -4 && exponent < 16) {
    let fixed: string;
    if (exponent < 0) {
      fixed = '0.' + '0'.repeat(-exponent - 1) + digits;
    } else if (digits.length > exponent + 1) {
      fixed = digits.slice(0, exponent + 1) + '.' + digits.slice(exponent + 1);
    } else {
      fixed = digits + '0'.repeat(exponent + 1 - digits.length) + '.0';
    }
    return sign + fixed;
  }
  const shown =
    digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits[0];
  const exp =
    (exponent < 0 ? '-' : '+') + String(Math.abs(exponent)).padStart(2, '0');
  return `${sign}${shown}e${exp}`;
}
