/** Reading a Kattis package's layout and problem.yaml (contract/problem-package.ts): pure functions. */
import { describe, expect, it } from 'vitest';
import { comparisonOfFlags, readProblemPackage, type PackageFile } from '../contract/problem-package.js';
import { LIMIT_TABLE } from '../sandbox/limits.js';

let n = 0;
const file = (path: string, size = 3): PackageFile => ({ path, size, sha256: (++n).toString(16).padStart(64, '0'), executable: false });
const pair = (stem: string) => [file(`${stem}.in`), file(`${stem}.ans`)];

describe('validator_flags', () => {
  it("read as Kattis's default validator reads them", () => {
    expect(comparisonOfFlags([])).toEqual({ comparison: { mode: 'tokens', case_sensitive: false } });
    expect(comparisonOfFlags(['case_sensitive'])).toEqual({ comparison: { mode: 'tokens', case_sensitive: true } });
    expect(comparisonOfFlags(['float_tolerance', '1e-4'])).toEqual({ comparison: { mode: 'float', absolute: 1e-4, relative: 1e-4, case_sensitive: false } });
    expect(comparisonOfFlags(['float_absolute_tolerance', '0.5'])).toEqual({ comparison: { mode: 'float', absolute: 0.5, relative: 0, case_sensitive: false } });
    expect(comparisonOfFlags(['float_relative_tolerance', '0.5', 'case_sensitive'])).toEqual({ comparison: { mode: 'float', absolute: 0, relative: 0.5, case_sensitive: true } });
    expect(comparisonOfFlags(['space_change_sensitive', 'case_sensitive'])).toEqual({ comparison: { mode: 'exact' } });
  });
  it('refuses what runcell cannot honour, saying why', () => {
    expect(comparisonOfFlags(['space_change_sensitive']).issue).toMatch(/only with case_sensitive/);
    expect(comparisonOfFlags(['float_tolerance', 'x']).issue).toMatch(/non-negative number/);
    expect(comparisonOfFlags(['frobnicate']).issue).toMatch(/unknown validator flag/);
  });
});

describe('the layout', () => {
  it('tests from data/sample then data/secret (any depth), limits from problem.yaml clamped to the table', () => {
    const files = [...pair('data/secret/b/2'), ...pair('data/secret/a'), ...pair('data/sample/1'), file('data/secret/readme.txt')];
    const reading = readProblemPackage(files, { name: 'X', limits: { time_limit: 2.5, memory: 1e9 } }, undefined, LIMIT_TABLE, 'dir');
    expect(reading.issues).toEqual([]);
    expect(reading.manifest!.tests.map((t) => t.id)).toEqual(['sample/1', 'secret/a', 'secret/b/2']);
    expect(reading.manifest!.limits.cpu_ms).toBe(2500);
    expect(reading.manifest!.limits.memory_bytes).toBe(LIMIT_TABLE.memory_bytes.max);
  });
  it('a .timelimit file when problem.yaml has none; the name from problem.yaml or the folder', () => {
    const reading = readProblemPackage(pair('data/secret/1'), { name: { en: 'English', de: 'Deutsch' } }, '3\n', LIMIT_TABLE, 'dir');
    expect(reading.manifest).toMatchObject({ name: 'English', limits: { cpu_ms: 3000 } });
    expect(readProblemPackage(pair('data/secret/1'), null, undefined, LIMIT_TABLE, 'dir').manifest?.name).toBe('dir');
  });
  it('validators: a folder or a single file; language by extension; the entry point first', () => {
    const files = [...pair('data/secret/1'), file('output_validators/check/testlib.h'), file('output_validators/check/check.cpp'), file('input_validators/val.py')];
    const reading = readProblemPackage(files, { validation: 'custom', validator_flags: 'x 1' }, undefined, LIMIT_TABLE, 'dir');
    expect(reading.issues).toEqual([]);
    expect(reading.manifest!.output_validator).toMatchObject({ name: 'check', language: 'cpp', flags: ['x', '1'], files: [{ path: 'check.cpp' }, { path: 'testlib.h' }] });
    expect(reading.manifest!.input_validators).toMatchObject([{ name: 'val', language: 'python3', files: [{ path: 'val.py' }] }]);
    expect(reading.manifest!.comparison).toBeUndefined();
  });
  it('every problem named by its package path', () => {
    const files = [file('data/secret/1.in'), file('output_validators/v/readme.md')];
    const reading = readProblemPackage(files, { validation: 'custom interactive' }, undefined, LIMIT_TABLE, 'dir');
    expect(reading.manifest).toBeUndefined();
    expect(reading.issues.map((i) => i.path).sort()).toEqual(['data', 'data/secret/1.in', 'output_validators', 'output_validators/v']);
    expect(readProblemPackage(pair('data/secret/1'), { limits: { time_limit: 'fast' } }, undefined, LIMIT_TABLE, 'dir').issues[0].path).toBe('problem.yaml/limits.time_limit');
  });
});

describe('interactive packages', () => {
  const read = (files: PackageFile[], yaml: unknown) => readProblemPackage([...pair('data/secret/1'), ...files], yaml, undefined, LIMIT_TABLE, 'dir');

  it('validation: custom interactive: the output validator is a kattis interactor, with its validator_flags', () => {
    const reading = read([file('output_validators/guess/guess.py')], { validation: 'custom interactive', validator_flags: 'rounds 3' });
    expect(reading.issues).toEqual([]);
    expect(reading.manifest).toMatchObject({ interactive: { protocol: 'kattis' }, output_validator: { name: 'guess', language: 'python3', flags: ['rounds', '3'] } });
    expect(reading.manifest!.comparison).toBeUndefined();
    expect(reading.manifest!.checker).toBeUndefined();
  });
  it('2023-07 type: interactive (string or list) needs no validation key', () => {
    for (const type of ['interactive', ['pass-fail', 'interactive']]) {
      expect(read([file('output_validators/i.cpp')], { type }).manifest).toMatchObject({ interactive: { protocol: 'kattis' }, output_validator: { name: 'i', language: 'cpp' } });
    }
  });
  it('runcell.interactor_protocol: testlib, with an optional testlib checker named checker', () => {
    const yaml = { validation: 'custom interactive', runcell: { interactor_protocol: 'testlib' } };
    const reading = read([file('output_validators/interactor/interactor.cpp'), file('output_validators/interactor/testlib.h'), file('output_validators/checker/checker.cpp')], yaml);
    expect(reading.issues).toEqual([]);
    expect(reading.manifest).toMatchObject({ interactive: { protocol: 'testlib' }, output_validator: { name: 'interactor', files: [{ path: 'interactor.cpp' }, { path: 'testlib.h' }] }, checker: { name: 'checker', language: 'cpp', flags: [] } });
    expect(read([file('output_validators/interactor.py')], yaml).manifest).toMatchObject({ interactive: { protocol: 'testlib' } });
  });
  it('refused, naming the path: no or two interactors, default validation, flags for testlib, a checker for kattis, the key without interaction', () => {
    const paths = (files: PackageFile[], yaml: unknown) => read(files, yaml).issues.map((i) => i.path);
    expect(paths([], { validation: 'custom interactive' })).toEqual(['output_validators']);
    expect(paths([file('output_validators/a.py'), file('output_validators/b.py')], { validation: 'custom interactive' })).toEqual(['output_validators']);
    expect(paths([file('output_validators/a.py'), file('output_validators/checker.py')], { validation: 'custom interactive' })).toEqual(['output_validators']);
    expect(paths([file('output_validators/a.py')], { validation: 'default interactive' })).toEqual(['problem.yaml/validation']);
    expect(paths([file('output_validators/a.py')], { validation: 'custom interactive', validator_flags: 'x', runcell: { interactor_protocol: 'testlib' } })).toEqual(['problem.yaml/validator_flags']);
    expect(paths([file('output_validators/a.py')], { validation: 'custom', runcell: { interactor_protocol: 'testlib' } })).toEqual(['problem.yaml/runcell.interactor_protocol']);
    expect(read([file('output_validators/a.py')], { validation: 'custom interactive', runcell: { interactor_protocol: 'icpc' } }).issues[0].path).toBe('problem.yaml/runcell.interactor_protocol');
  });
});
