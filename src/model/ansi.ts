/**
 * Splits text with ANSI SGR escapes (colours, bold, underline, as Python's logging and IPython's
 * tracebacks print them) into plain runs and the classes JupyterLab's own output CSS colours them by
 * (`ansi-red-fg`, `ansi-green-intense-fg`, `ansi-bold` …, styled inside `.jp-RenderedText`), so a log
 * line shows in the theme's colours and no escape or markup of the text reaches the page.
 */

const COLOURS = [
  'black',
  'red',
  'green',
  'yellow',
  'blue',
  'magenta',
  'cyan',
  'white'
] as const;

export interface IAnsiSegment {
  text: string;
  /** Space-separated classes, '' for plain text. */
  classes: string;
}

interface IStyle {
  fg: string | null;
  bg: string | null;
  bold: boolean;
  underline: boolean;
}

const PLAIN: IStyle = { fg: null, bg: null, bold: false, underline: false };

// CSI sequences (ESC [ params final-byte); only SGR ('m') changes the style, the rest are dropped.
// eslint-disable-next-line no-control-regex
const CSI = /\u001b\[([0-9;]*)([@-~])/g;
// Any other escape left behind (a lone ESC, OSC titles): dropped rather than shown as a box.
// eslint-disable-next-line no-control-regex
const STRAY_ESCAPE = /\u001b(\][^\u0007]*\u0007|[@-Z\\-_]?)/g;

export function ansiSegments(text: string): IAnsiSegment[] {
  const segments: IAnsiSegment[] = [];
  let style: IStyle = PLAIN;
  let last = 0;
  const push = (chunk: string) => {
    const plain = chunk.replace(STRAY_ESCAPE, '');
    if (!plain) {
      return;
    }
    const classes = classesOf(style);
    const previous = segments[segments.length - 1];
    if (previous && previous.classes === classes) {
      previous.text += plain;
    } else {
      segments.push({ text: plain, classes });
    }
  };
  for (const match of text.matchAll(CSI)) {
    push(text.slice(last, match.index));
    last = match.index! + match[0].length;
    if (match[2] === 'm') {
      style = applySgr(style, match[1]);
    }
  }
  push(text.slice(last));
  return segments;
}

/** The text without its escapes: what a search matches against. */
export function stripAnsi(text: string): string {
  return ansiSegments(text)
    .map(s => s.text)
    .join('');
}

function applySgr(style: IStyle, params: string): IStyle {
  const codes = params === '' ? [0] : params.split(';').map(Number);
  let next = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i];
    if (code === 0) {
      next = { ...PLAIN };
    } else if (code === 1) {
      next.bold = true;
    } else if (code === 4) {
      next.underline = true;
    } else if (code === 22) {
      next.bold = false;
    } else if (code === 24) {
      next.underline = false;
    } else if (code >= 30 && code <= 37) {
      next.fg = COLOURS[code - 30];
    } else if (code >= 90 && code <= 97) {
      next.fg = `${COLOURS[code - 90]}-intense`;
    } else if (code === 39) {
      next.fg = null;
    } else if (code >= 40 && code <= 47) {
      next.bg = COLOURS[code - 40];
    } else if (code >= 100 && code <= 107) {
      next.bg = `${COLOURS[code - 100]}-intense`;
    } else if (code === 49) {
      next.bg = null;
    } else if (code === 38 || code === 48) {
      // 256-colour and true-colour forms: skipped (their arguments too), the text stays plain.
      i += codes[i + 1] === 5 ? 2 : codes[i + 1] === 2 ? 4 : 0;
    }
  }
  return next;
}

function classesOf(style: IStyle): string {
  return [
    style.fg && `ansi-${style.fg}-fg`,
    style.bg && `ansi-${style.bg}-bg`,
    style.bold && 'ansi-bold',
    style.underline && 'ansi-underline'
  ]
    .filter(Boolean)
    .join(' ');
}
