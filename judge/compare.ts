/**
 * Output comparison: does a program's stdout match the expected output?
 * Pure functions, no I/O. The modes:
 * - exact: byte for byte (as decoded text).
 * - trailing_whitespace (default): trailing spaces and tabs of each line, a
 *   trailing carriage return, and trailing blank lines are ignored.
 * - tokens: the outputs split on whitespace are the same sequence of words.
 * - float: like tokens, but two tokens that both parse as numbers match when
 *   |actual - expected| <= absolute or <= relative * |expected|. As in
 *   DOMjudge's comparator, nan and inf/infinity (any case, signed) are
 *   numbers too: NaN matches NaN, an infinity matches the infinity of its
 *   sign, neither matches a finite number.
 * The token modes compare words case-insensitively when case_sensitive is
 * false (default true).
 */

import { COMPARISON_MODES, type ComparisonMode } from '../contract/job-request.js';

export { COMPARISON_MODES, type ComparisonMode };

export interface Comparison {
  mode: ComparisonMode;
  /** float mode: absolute tolerance. Default 1e-6. */
  absolute?: number;
  /** float mode: relative tolerance (of the expected value). Default 1e-6. */
  relative?: number;
  /** tokens and float modes: false compares words ignoring case. Default true. */
  case_sensitive?: boolean;
}

export const DEFAULT_COMPARISON: Comparison = { mode: 'trailing_whitespace' };
export const DEFAULT_TOLERANCE = 1e-6;

export interface ComparisonOutcome {
  accepted: boolean;
  /** Where the outputs first differ, for the test's message; undefined when accepted. */
  message?: string;
}

export function compareOutput(expected: string, actual: string, comparison: Comparison = DEFAULT_COMPARISON): ComparisonOutcome {
  switch (comparison.mode) {
    case 'exact':
      return expected === actual ? ACCEPTED : { accepted: false, message: firstDifferentLine(expected.split('\n'), actual.split('\n')) };
    case 'trailing_whitespace':
      return compareLines(normalizedLines(expected), normalizedLines(actual));
    case 'tokens':
      return compareTokens(tokens(expected), tokens(actual), sameWord(comparison));
    case 'float': {
      const absolute = comparison.absolute ?? DEFAULT_TOLERANCE;
      const relative = comparison.relative ?? DEFAULT_TOLERANCE;
      const same = sameWord(comparison);
      return compareTokens(tokens(expected), tokens(actual), (e, a) => same(e, a) || numbersClose(e, a, absolute, relative));
    }
  }
}

const ACCEPTED: ComparisonOutcome = { accepted: true };

/** Lines without trailing blanks (and \r), trailing empty lines dropped. */
export function normalizedLines(text: string): string[] {
  const lines = text.split('\n').map((line) => line.replace(/[ \t\r]+$/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function tokens(text: string): string[] {
  return text.split(/\s+/).filter((token) => token !== '');
}

function sameWord(comparison: Comparison): (expected: string, actual: string) => boolean {
  if (comparison.case_sensitive !== false) return (expected, actual) => expected === actual;
  // toLowerCase and toUpperCase both: a word like "ß" or "İ" folds one way only.
  return (expected, actual) => expected === actual || expected.toLowerCase() === actual.toLowerCase() || expected.toUpperCase() === actual.toUpperCase();
}

/** A decimal or scientific number, as judges print them; not hex. */
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** NaN and the infinities as C's strtod reads them (DOMjudge's comparator parses with it), any case, optionally signed. */
const NAN = /^[+-]?nan$/i;
const INFINITY = /^([+-]?)inf(?:inity)?$/i;

/** A token's value as a judge's float comparison reads it, or undefined when it is a word. */
export function floatValue(token: string): number | undefined {
  if (NUMBER.test(token)) return Number(token);
  if (NAN.test(token)) return NaN;
  const infinity = INFINITY.exec(token);
  if (infinity) return infinity[1] === '-' ? -Infinity : Infinity;
  return undefined;
}

export function numbersClose(expectedToken: string, actualToken: string, absolute: number, relative: number): boolean {
  const expected = floatValue(expectedToken);
  const actual = floatValue(actualToken);
  if (expected === undefined || actual === undefined) return false;
  if (Number.isNaN(expected) || Number.isNaN(actual)) return Number.isNaN(expected) && Number.isNaN(actual);
  // Infinity - Infinity is NaN: infinities match by sign only, never a finite number however tolerant.
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) return expected === actual;
  const difference = Math.abs(actual - expected);
  return difference <= absolute || difference <= relative * Math.abs(expected);
}

function compareLines(expected: string[], actual: string[]): ComparisonOutcome {
  if (expected.length === actual.length && expected.every((line, i) => line === actual[i])) return ACCEPTED;
  return { accepted: false, message: firstDifferentLine(expected, actual) };
}

function compareTokens(expected: string[], actual: string[], same: (expected: string, actual: string) => boolean): ComparisonOutcome {
  const shared = Math.min(expected.length, actual.length);
  for (let i = 0; i < shared; i++) {
    if (!same(expected[i], actual[i])) return { accepted: false, message: `token ${i + 1}: expected ${quote(expected[i])}, got ${quote(actual[i])}` };
  }
  if (expected.length === actual.length) return ACCEPTED;
  return { accepted: false, message: `expected ${expected.length} tokens, got ${actual.length}` };
}

function firstDifferentLine(expected: string[], actual: string[]): string {
  const lines = Math.max(expected.length, actual.length);
  for (let i = 0; i < lines; i++) {
    if (expected[i] !== actual[i]) {
      if (i >= actual.length) return `line ${i + 1}: expected ${quote(expected[i])}, got end of output`;
      if (i >= expected.length) return `line ${i + 1}: expected end of output, got ${quote(actual[i])}`;
      return `line ${i + 1}: expected ${quote(expected[i])}, got ${quote(actual[i])}`;
    }
  }
  return 'outputs differ';
}

const QUOTE_CHARS = 60;

function quote(text: string): string {
  return JSON.stringify(text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS)}…` : text);
}
