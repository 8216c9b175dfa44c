/** Output comparison modes: pure functions, checked directly. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareOutput, floatValue, normalizedLines, numbersClose } from '../judge/compare.js';

const accepts = (expected: string, actual: string, mode: Parameters<typeof compareOutput>[2]) => compareOutput(expected, actual, mode).accepted;

describe('compareOutput', () => {
  it('exact: every byte counts', () => {
    expect(accepts('3\n', '3\n', { mode: 'exact' })).toBe(true);
    expect(accepts('3\n', '3', { mode: 'exact' })).toBe(false);
    expect(accepts('3\n', '3 \n', { mode: 'exact' })).toBe(false);
    expect(compareOutput('1\n2\n', '1\n3\n', { mode: 'exact' }).message).toBe('line 2: expected "2", got "3"');
  });

  it('trailing_whitespace (the default): trailing blanks, \\r and blank lines at the end are ignored', () => {
    expect(accepts('1 2\n3\n', '1 2   \r\n3\t\n\n\n', undefined)).toBe(true);
    expect(accepts('3', '3\n', undefined)).toBe(true);
    expect(accepts('', '\n\n', undefined)).toBe(true);
    // Leading and inner whitespace still count, and so do blank lines in the middle.
    expect(accepts('1 2\n', '1  2\n', undefined)).toBe(false);
    expect(accepts('1\n2\n', ' 1\n2\n', undefined)).toBe(false);
    expect(accepts('1\n2\n', '1\n\n2\n', undefined)).toBe(false);
    expect(compareOutput('1\n2\n', '1\n', { mode: 'trailing_whitespace' }).message).toBe('line 2: expected "2", got end of output');
    expect(normalizedLines('a \nb\t\r\n\n')).toEqual(['a', 'b']);
  });

  it('tokens: only the sequence of words counts', () => {
    expect(accepts('1 2 3\n', '1\n2   3', { mode: 'tokens' })).toBe(true);
    expect(accepts('1 2 3', '1 2', { mode: 'tokens' })).toBe(false);
    expect(accepts('1.0', '1', { mode: 'tokens' })).toBe(false);
    expect(compareOutput('a b', 'a c', { mode: 'tokens' }).message).toBe('token 2: expected "b", got "c"');
    expect(compareOutput('a b', 'a', { mode: 'tokens' }).message).toBe('expected 2 tokens, got 1');
  });

  it('float: numbers within the absolute or relative tolerance match, words must be equal', () => {
    expect(accepts('0.3333333', '0.33333334', { mode: 'float' })).toBe(true);
    expect(accepts('0.5', '0.6', { mode: 'float' })).toBe(false);
    expect(accepts('0.5', '0.6', { mode: 'float', absolute: 0.2 })).toBe(true);
    expect(accepts('1e9', '1000000500', { mode: 'float', absolute: 0, relative: 1e-6 })).toBe(true);
    expect(accepts('1e9', '1000002000', { mode: 'float', absolute: 0, relative: 1e-6 })).toBe(false);
    expect(accepts('YES 1.5', 'YES 1.5000001', { mode: 'float' })).toBe(true);
    expect(accepts('YES 1.5', 'yes 1.5', { mode: 'float' })).toBe(false);
    expect(accepts('1 2', '1 2 3', { mode: 'float' })).toBe(false);
  });

  it('float: words, hex and the like never match by tolerance', () => {
    expect(numbersClose('0x10', '16', 1, 1)).toBe(false);
    expect(numbersClose('nope', 'nope', 1, 1)).toBe(false);
    expect(numbersClose('1', 'NaNa', 1, 1)).toBe(false);
    expect(numbersClose('Infinityy', 'inf', 1, 1)).toBe(false);
    expect(numbersClose('-.5', '-0.5', 0, 0)).toBe(true);
    expect(numbersClose('1.', '1', 0, 0)).toBe(true);
    // Identical tokens still match as words.
    expect(accepts('Infinityy', 'Infinityy', { mode: 'float' })).toBe(true);
  });

  it('float: nan and the infinities are numbers, any case (as DOMjudge reads them)', () => {
    expect(floatValue('NaN')).toBeNaN();
    expect(floatValue('-nan')).toBeNaN();
    expect(floatValue('INF')).toBe(Infinity);
    expect(floatValue('+Infinity')).toBe(Infinity);
    expect(floatValue('-inf')).toBe(-Infinity);
    expect(floatValue('-INFINITY')).toBe(-Infinity);
    expect(floatValue('word')).toBeUndefined();
    // The case: a correct program printing nan where the answer says NaN.
    expect(accepts('NaN\n', 'nan\n', { mode: 'float' })).toBe(true);
    expect(accepts('nan', '-NAN', { mode: 'float' })).toBe(true);
    expect(accepts('Infinity -Infinity', 'inf -inf', { mode: 'float' })).toBe(true);
    expect(accepts('inf', 'INFINITY', { mode: 'float' })).toBe(true);
  });

  it('float: NaN matches only NaN, an infinity only the infinity of its sign, however tolerant', () => {
    const tolerant = { mode: 'float' as const, absolute: 1e300, relative: 1e300 };
    expect(accepts('nan', '0', tolerant)).toBe(false);
    expect(accepts('0', 'nan', tolerant)).toBe(false);
    expect(accepts('nan', 'inf', tolerant)).toBe(false);
    expect(accepts('inf', '-inf', tolerant)).toBe(false);
    expect(accepts('inf', '1e308', tolerant)).toBe(false);
    expect(accepts('-1e308', '-inf', tolerant)).toBe(false);
    expect(compareOutput('1 nan', '1 inf', { mode: 'float' }).message).toBe('token 2: expected "nan", got "inf"');
  });

  it('case_sensitive: false compares words ignoring case in the token modes', () => {
    expect(accepts('YES', 'yes', { mode: 'tokens' })).toBe(false);
    expect(accepts('YES', 'yes', { mode: 'tokens', case_sensitive: true })).toBe(false);
    expect(accepts('YES\nPossible', 'yes possIBLE', { mode: 'tokens', case_sensitive: false })).toBe(true);
    expect(accepts('YES', 'no', { mode: 'tokens', case_sensitive: false })).toBe(false);
    expect(accepts('Straße', 'STRASSE', { mode: 'tokens', case_sensitive: false })).toBe(true);
    expect(accepts('YES 1.5', 'yes 1.5000001', { mode: 'float', case_sensitive: false })).toBe(true);
    expect(accepts('YES 1.5', 'yes 1.6', { mode: 'float', case_sensitive: false })).toBe(false);
  });
});

describe('compareOutput properties', () => {
  const line = fc.string({ unit: fc.constantFrom('a', 'b', '1', ' ', '.', '-'), maxLength: 12 });
  const lines = fc.array(line, { maxLength: 8 });
  const blanks = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 3 });

  it('trailing_whitespace: trailing blanks on any line and blank lines at the end never matter', () => {
    fc.assert(
      fc.property(lines, fc.array(blanks, { minLength: 8, maxLength: 8 }), fc.nat(3), (text, pads, extraLines) => {
        const padded = text.map((l, i) => l + pads[i]).join('\n') + '\n'.repeat(extraLines);
        return compareOutput(text.join('\n'), padded).accepted;
      }),
    );
  });

  it('tokens: any re-spacing of the same words is accepted; a changed word is not', () => {
    const word = fc.string({ unit: fc.constantFrom('a', 'b', '7'), minLength: 1, maxLength: 5 });
    const separator = fc.string({ unit: fc.constantFrom(' ', '\n', '\t'), minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 10 }), fc.array(separator, { minLength: 10, maxLength: 10 }), (words, seps) => {
        const respaced = words.map((w, i) => w + seps[i]).join('');
        const changed = [...words.slice(0, -1), `${words[words.length - 1]}x`].join(' ');
        return compareOutput(words.join(' '), respaced, { mode: 'tokens' }).accepted && !compareOutput(words.join(' '), changed, { mode: 'tokens' }).accepted;
      }),
    );
  });

  it('float: a number within the absolute tolerance is accepted, one clearly beyond is not', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: -0.9, max: 0.9, noNaN: true }), (x, f) => {
        const tolerance = 1e-3;
        const near = compareOutput(String(x), String(x + f * tolerance), { mode: 'float', absolute: tolerance, relative: 0 }).accepted;
        const far = compareOutput(String(x), String(x + 2 * tolerance + Math.abs(f)), { mode: 'float', absolute: tolerance, relative: 0 }).accepted;
        return near && !far;
      }),
    );
  });
});
