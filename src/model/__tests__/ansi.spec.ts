import { describe, expect, it } from 'vitest';

import { ansiSegments, stripAnsi } from '../ansi.js';

const ESC = '\u001b';

describe('ansiSegments', () => {
  it('gives plain text one plain segment', () => {
    expect(ansiSegments('extracted 10 users')).toEqual([
      { text: 'extracted 10 users', classes: '' }
    ]);
  });

  it("maps colours, bright colours, bold and reset to JupyterLab's output classes", () => {
    expect(
      ansiSegments(
        `${ESC}[31mError${ESC}[0m: ${ESC}[1;92mok${ESC}[22m still green${ESC}[39m plain`
      )
    ).toEqual([
      { text: 'Error', classes: 'ansi-red-fg' },
      { text: ': ', classes: '' },
      { text: 'ok', classes: 'ansi-green-intense-fg ansi-bold' },
      { text: ' still green', classes: 'ansi-green-intense-fg' },
      { text: ' plain', classes: '' }
    ]);
  });

  it('colours backgrounds, skips 256-colour arguments and drops other escapes', () => {
    expect(
      ansiSegments(`${ESC}[44mbg${ESC}[49m${ESC}[38;5;196mx${ESC}[2K${ESC}`)
    ).toEqual([
      { text: 'bg', classes: 'ansi-blue-bg' },
      { text: 'x', classes: '' }
    ]);
  });

  it('keeps markup as text (never HTML) and strips escapes for search', () => {
    const text = `${ESC}[31m<b>&amp;</b>${ESC}[0m`;
    expect(ansiSegments(text)).toEqual([
      { text: '<b>&amp;</b>', classes: 'ansi-red-fg' }
    ]);
    expect(stripAnsi(text)).toBe('<b>&amp;</b>');
  });
});
