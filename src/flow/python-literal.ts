/**
 * Reads a papermill-style `parameters` cell in TypeScript: `name = literal  # description` statements,
 * where a literal is a str, int, float, True/False, None, or a list, tuple or dict of those. Anything
 * else is reported by line, never evaluated: the compiler must not need a kernel to know the defaults.
 */
import { PYTHON_KEYWORDS } from './validate.js';

/** The Python type a literal had, before mapping to a parameter type. */
export type LiteralKind =
  'str' | 'int' | 'float' | 'bool' | 'none' | 'list' | 'tuple' | 'dict';

export interface ParsedAssignment {
  name: string;
  value: unknown;
  kind: LiteralKind;
  /** The annotation's text in `name: T = value`, if any. */
  annotation?: string;
  /** The comment at the end of the statement, without `#`. */
  description?: string;
  /** 1-based line of the statement's start in the cell. */
  line: number;
}

export interface StatementProblem {
  line: number;
  /** The statement's first line, as written. */
  text: string;
  reason: string;
}

export interface ParametersCellParse {
  assignments: ParsedAssignment[];
  problems: StatementProblem[];
}

type TokenKind =
  'name' | 'number' | 'string' | 'op' | 'newline' | 'comment' | 'error' | 'end';

interface Token {
  kind: TokenKind;
  text: string;
  line: number;
  /** Decoded value of a string or number token. */
  value?: unknown;
  /** For numbers: whether the literal was a float. */
  isFloat?: boolean;
}

const NAME_START = /[\p{L}\p{Nl}_]/u;
const NAME_REST = /[\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]/u;
const RADIX_INT = /0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+/y;
const DECIMAL_NUMBER =
  /(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?/y;
const STRING_PREFIX = /(?:[rRuUbBfF]|[rR][bBfF]|[bBfF][rR])?(?=['"])/y;

/** Splits the cell into tokens; newlines inside brackets or after a backslash do not end a statement. */
function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  let line = 1;
  let depth = 0;
  const push = (kind: TokenKind, text: string, extra: Partial<Token> = {}) =>
    tokens.push({ kind, text, line, ...extra });

  while (pos < source.length) {
    const ch = source[pos];
    if (ch === '\n') {
      if (depth === 0) {
        push('newline', '\n');
      }
      line++;
      pos++;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f') {
      pos++;
      continue;
    }
    if (
      ch === '\\' &&
      (source[pos + 1] === '\n' || source.startsWith('\r\n', pos + 1))
    ) {
      pos += source[pos + 1] === '\n' ? 2 : 3;
      line++;
      continue;
    }
    if (ch === '#') {
      const end = source.indexOf('\n', pos);
      const text = source.slice(pos, end < 0 ? source.length : end);
      push('comment', text.replace(/\r$/, ''));
      pos += text.length;
      continue;
    }
    STRING_PREFIX.lastIndex = pos;
    const prefixMatch = STRING_PREFIX.exec(source);
    if (prefixMatch) {
      const startLine = line;
      const read = readString(
        source,
        pos + prefixMatch[0].length,
        prefixMatch[0].toLowerCase()
      );
      const text = source.slice(pos, read.end);
      line += (text.match(/\n/g) ?? []).length;
      pos = read.end;
      if (read.error) {
        tokens.push({
          kind: 'error',
          text,
          line: startLine,
          value: read.error
        });
      } else {
        tokens.push({
          kind: 'string',
          text,
          line: startLine,
          value: read.value
        });
      }
      continue;
    }
    if (/\d/.test(ch) || (ch === '.' && /\d/.test(source[pos + 1] ?? ''))) {
      const number = readNumber(source, pos);
      pos = number.end;
      if (number.error) {
        push('error', number.text, { value: number.error });
      } else {
        push('number', number.text, {
          value: number.value,
          isFloat: number.isFloat
        });
      }
      continue;
    }
    if (NAME_START.test(ch)) {
      let end = pos + 1;
      while (end < source.length && NAME_REST.test(source[end])) {
        end++;
      }
      push('name', source.slice(pos, end));
      pos = end;
      continue;
    }
    if ('([{'.includes(ch)) {
      depth++;
    } else if (')]}'.includes(ch)) {
      depth = Math.max(0, depth - 1);
    }
    // Two-character operators matter only so that `x += 1` or `x == 1` is not read as `x = ...`.
    const two = source.slice(pos, pos + 2);
    const op = /^(?:[-+*/%&|^<>=!:@]=|\*\*|\/\/|->)$/.test(two) ? two : ch;
    push('op', op);
    pos += op.length;
  }
  push('end', '');
  return tokens;
}

interface ReadResult {
  end: number;
  value?: string;
  error?: string;
}

function readString(source: string, start: number, prefix: string): ReadResult {
  const quote = source[start];
  const triple = source.startsWith(quote.repeat(3), start);
  const delimiter = triple ? quote.repeat(3) : quote;
  const raw = prefix.includes('r');
  let pos = start + delimiter.length;
  let value = '';
  while (pos < source.length) {
    if (source.startsWith(delimiter, pos)) {
      const end = pos + delimiter.length;
      if (prefix.includes('b')) {
        return { end, error: 'bytes literals are not supported; use a str' };
      }
      if (prefix.includes('f')) {
        return { end, error: 'an f-string is computed, not a literal' };
      }
      return { end, value };
    }
    const ch = source[pos];
    if (ch === '\n' && !triple) {
      break;
    }
    if (ch === '\\' && pos + 1 < source.length) {
      if (raw) {
        value += ch + source[pos + 1];
        pos += 2;
        continue;
      }
      const escape = readEscape(source, pos);
      if (escape.error) {
        return { end: skipToLineEnd(source, pos), error: escape.error };
      }
      value += escape.value;
      pos = escape.end;
      continue;
    }
    value += ch;
    pos++;
  }
  return {
    end: skipToLineEnd(source, pos),
    error: 'this string is not closed'
  };
}

function skipToLineEnd(source: string, pos: number): number {
  const end = source.indexOf('\n', pos);
  return end < 0 ? source.length : end;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\n': ''
};

function readEscape(
  source: string,
  pos: number
): { end: number; value: string; error?: string } {
  const next = source[pos + 1];
  if (next in SIMPLE_ESCAPES) {
    return { end: pos + 2, value: SIMPLE_ESCAPES[next] };
  }
  const hexLength = next === 'x' ? 2 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
  if (hexLength) {
    const hex = source.slice(pos + 2, pos + 2 + hexLength);
    const code =
      /^[0-9a-fA-F]+$/.test(hex) && hex.length === hexLength
        ? parseInt(hex, 16)
        : NaN;
    if (!(code <= 0x10ffff)) {
      return { end: pos, value: '', error: `bad escape \\${next}${hex}` };
    }
    return { end: pos + 2 + hexLength, value: String.fromCodePoint(code) };
  }
  const octal = /^[0-7]{1,3}/.exec(source.slice(pos + 1, pos + 4));
  if (octal) {
    return {
      end: pos + 1 + octal[0].length,
      value: String.fromCodePoint(parseInt(octal[0], 8))
    };
  }
  if (next === 'N') {
    return {
      end: pos,
      value: '',
      error: 'named escapes (\\N{...}) are not supported'
    };
  }
  // Python keeps an unknown escape as written, backslash included.
  return { end: pos + 2, value: '\\' + next };
}

function readNumber(
  source: string,
  pos: number
): {
  end: number;
  text: string;
  value?: number;
  isFloat?: boolean;
  error?: string;
} {
  RADIX_INT.lastIndex = pos;
  const radix = RADIX_INT.exec(source);
  let text: string;
  let value: number;
  let isFloat = false;
  if (radix) {
    text = radix[0];
    const digits = text.slice(2).replace(/_/g, '');
    const base = { x: 16, o: 8, b: 2 }[
      text[1].toLowerCase() as 'x' | 'o' | 'b'
    ];
    value = parseInt(digits, base);
  } else {
    DECIMAL_NUMBER.lastIndex = pos;
    text = DECIMAL_NUMBER.exec(source)![0];
    isFloat = /[.eE]/.test(text);
    value = Number(text.replace(/_/g, ''));
    if (!isFloat && /^0+[1-9]/.test(text.replace(/_/g, ''))) {
      return {
        end: pos + text.length,
        text,
        error: `leading zeros are not allowed in ${text}`
      };
    }
  }
  let end = pos + text.length;
  if (end < source.length && /[\p{L}\p{N}_]/u.test(source[end])) {
    while (end < source.length && /[\p{L}\p{N}_]/u.test(source[end])) {
      end++;
    }
    const whole = source.slice(pos, end);
    const reason = /^[\d.eE_]+[jJ]$/.test(whole)
      ? 'complex numbers are not supported'
      : `${whole} is not a number`;
    return { end, text: whole, error: reason };
  }
  if (!isFloat && !Number.isSafeInteger(value)) {
    return {
      end,
      text,
      error: `${text} is too large: integers must be within ±${Number.MAX_SAFE_INTEGER}`
    };
  }
  if (!Number.isFinite(value)) {
    return { end, text, error: `${text} is too large for a float` };
  }
  return { end, text, value, isFloat };
}

class LiteralError extends Error {}

const MAX_NESTING = 100;

const CHAINED =
  'chained assignments (a = b = 1) are not allowed; give each parameter its own line';

/** A recursive-descent reader of one statement's tokens. */
class StatementParser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  parseAssignment(): Omit<ParsedAssignment, 'line' | 'description'> {
    const target = this.next();
    if (target.kind !== 'name' || PYTHON_KEYWORDS.has(target.text)) {
      throw new LiteralError(
        'only `name = literal` lines are allowed in a parameters cell'
      );
    }
    let annotation: string | undefined;
    if (this.peek().text === ':') {
      this.next();
      const start = this.pos;
      while (this.peek().kind !== 'end' && this.peek().text !== '=') {
        this.next();
      }
      annotation = this.tokens
        .slice(start, this.pos)
        .map(t => t.text)
        .join('');
    }
    const eq = this.next();
    if (eq.text !== '=') {
      throw new LiteralError(
        eq.kind === 'op' && eq.text.endsWith('=')
          ? `"${eq.text}" is not a plain assignment; write name = literal`
          : 'only `name = literal` lines are allowed in a parameters cell'
      );
    }
    let literal = this.parseValue();
    if (this.peek().text === ',') {
      // `x = 1, 2` is a tuple, as in Python.
      const items = [literal.value];
      while (this.peek().text === ',') {
        this.next();
        if (this.peek().kind === 'end') {
          break;
        }
        items.push(this.parseValue().value);
      }
      literal = { value: items, kind: 'tuple' };
    }
    const rest = this.peek();
    if (rest.kind !== 'end') {
      throw new LiteralError(
        rest.text === '='
          ? CHAINED
          : `unexpected "${rest.text}" after the value: the value must be a single literal`
      );
    }
    return { name: target.text, annotation, ...literal };
  }

  private parseValue(): { value: unknown; kind: LiteralKind } {
    // Bounded so that a hostile `[[[[...` gives a problem, not a stack overflow.
    if (++this.depth > MAX_NESTING) {
      throw new LiteralError(
        `the value is nested more than ${MAX_NESTING} levels deep`
      );
    }
    try {
      return this.parseValueInner();
    } finally {
      this.depth--;
    }
  }

  private parseValueInner(): { value: unknown; kind: LiteralKind } {
    const token = this.next();
    switch (token.kind) {
      case 'error':
        throw new LiteralError(String(token.value));
      case 'string': {
        let value = token.value as string;
        // Adjacent strings concatenate, as in Python ('a' 'b' == 'ab').
        while (this.peek().kind === 'string' || this.peek().kind === 'error') {
          const more = this.next();
          if (more.kind === 'error') {
            throw new LiteralError(String(more.value));
          }
          value += more.value as string;
        }
        return { value, kind: 'str' };
      }
      case 'number':
        return { value: token.value, kind: token.isFloat ? 'float' : 'int' };
      case 'name':
        if (token.text === 'True' || token.text === 'False') {
          return { value: token.text === 'True', kind: 'bool' };
        }
        if (token.text === 'None') {
          return { value: null, kind: 'none' };
        }
        if (this.peek().text === '(') {
          throw new LiteralError(`${token.text}(...) is a call, not a literal`);
        }
        if (this.peek().text === '=') {
          throw new LiteralError(CHAINED);
        }
        throw new LiteralError(`${token.text} is a name, not a literal`);
      case 'op':
        return this.parseOperatorValue(token);
      default:
        throw new LiteralError('a value is missing after "="');
    }
  }

  private parseOperatorValue(token: Token): {
    value: unknown;
    kind: LiteralKind;
  } {
    if (token.text === '-' || token.text === '+') {
      const operand = this.parseValue();
      if (operand.kind !== 'int' && operand.kind !== 'float') {
        throw new LiteralError(`"${token.text}" can only sign a number`);
      }
      const value = operand.value as number;
      return {
        value: token.text === '-' ? (value === 0 ? 0 : -value) : value,
        kind: operand.kind
      };
    }
    if (token.text === '[') {
      return { value: this.parseItems(']'), kind: 'list' };
    }
    if (token.text === '(') {
      const start = this.pos;
      if (this.peek().text === ')') {
        this.next();
        return { value: [], kind: 'tuple' };
      }
      const first = this.parseValue();
      if (this.peek().text === ')') {
        // (x) is just x in parentheses; (x,) is a tuple.
        this.next();
        return first;
      }
      this.pos = start;
      return { value: this.parseItems(')'), kind: 'tuple' };
    }
    if (token.text === '{') {
      return this.parseDict();
    }
    throw new LiteralError(
      `unexpected "${token.text}": the value must be a literal`
    );
  }

  private parseItems(close: string): unknown[] {
    const items: unknown[] = [];
    while (this.peek().text !== close) {
      items.push(this.parseValue().value);
      const sep = this.next();
      if (sep.text === close) {
        return items;
      }
      if (sep.text !== ',') {
        throw new LiteralError(this.unexpected(sep, `"," or "${close}"`));
      }
    }
    this.next();
    return items;
  }

  private parseDict(): { value: unknown; kind: LiteralKind } {
    const dict: Record<string, unknown> = {};
    while (this.peek().text !== '}') {
      const key = this.parseValue();
      const colon = this.next();
      if (colon.text !== ':') {
        throw new LiteralError(
          colon.text === ',' || colon.text === '}'
            ? 'sets are not supported; use a list'
            : this.unexpected(colon, '":"')
        );
      }
      if (key.kind !== 'str') {
        throw new LiteralError(
          'dict keys must be strings (they become JSON object keys)'
        );
      }
      dict[key.value as string] = this.parseValue().value;
      const sep = this.next();
      if (sep.text === '}') {
        return { value: dict, kind: 'dict' };
      }
      if (sep.text !== ',') {
        throw new LiteralError(this.unexpected(sep, '"," or "}"'));
      }
    }
    this.next();
    return { value: dict, kind: 'dict' };
  }

  private unexpected(token: Token, expected: string): string {
    if (token.kind === 'error') {
      return String(token.value);
    }
    return token.kind === 'end'
      ? `missing ${expected}`
      : `expected ${expected}, got "${token.text}"`;
  }

  private peek(): Token {
    return this.tokens[this.pos] ?? END;
  }

  private next(): Token {
    const token = this.peek();
    if (this.pos < this.tokens.length) {
      this.pos++;
    }
    return token;
  }
}

const END: Token = { kind: 'end', text: '', line: 0 };

/** Parses a parameters cell's source into its assignments and the lines that are not assignments. */
export function parseParametersSource(source: string): ParametersCellParse {
  const lines = source.split('\n');
  const result: ParametersCellParse = { assignments: [], problems: [] };
  const tokens = tokenize(source);
  let statement: Token[] = [];
  let comment: string | undefined;
  for (const token of tokens) {
    if (token.kind === 'comment') {
      comment = token.text.replace(/^#\s*/, '').trim();
      continue;
    }
    if (token.kind !== 'newline' && token.kind !== 'end') {
      statement.push(token);
      continue;
    }
    if (statement.length > 0) {
      const line = statement[0].line;
      try {
        const parsed = new StatementParser(statement).parseAssignment();
        result.assignments.push({
          ...parsed,
          line,
          ...(comment ? { description: comment } : {})
        });
      } catch (error) {
        if (!(error instanceof LiteralError)) {
          throw error;
        }
        result.problems.push({
          line,
          text: (lines[line - 1] ?? '').trim(),
          reason: error.message
        });
      }
    }
    statement = [];
    comment = undefined;
  }
  return result;
}
