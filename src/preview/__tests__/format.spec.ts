import { describe, expect, it } from 'vitest';

import { formatNumber } from '../format.js';

describe('formatNumber', () => {
  it('keeps whole numbers whole and rounds others to 4 decimals', () => {
    expect(formatNumber(123456789, 'en-US')).toBe('123456789');
    expect(formatNumber(1.375, 'en-US')).toBe('1.375');
    expect(formatNumber(2 / 3, 'en-US')).toBe('0.6667');
    expect(formatNumber(-41152263.140999995, 'en-US')).toBe('-41152263.141');
  });

  it('does not show a tiny number as 0, and names non-finite ones', () => {
    expect(formatNumber(0.00001234, 'en-US')).toBe('1.234e-5');
    expect(formatNumber(0, 'en-US')).toBe('0');
    expect(formatNumber(Infinity, 'en-US')).toBe('Infinity');
    expect(formatNumber(NaN, 'en-US')).toBe('NaN');
  });

  it('follows the locale', () => {
    expect(formatNumber(1.5, 'de-DE')).toBe('1,5');
  });
});
