/**
 * Reads an ICPC/Kattis problem package's layout (already unpacked and hashed)
 * into a manifest: tests from data/sample and data/secret (`.in` with its
 * `.ans`), limits and validator_flags from problem.yaml, the output validator
 * and the input validators from their folders. Pure: the caller parses the
 * YAML and hashes the files. Every refusal names the package path it is about.
 */
import { z } from 'zod';
import type { LimitRanges } from './limits.js';
import type { ProblemManifest, ProgramFile, StoredFile, StoredProgram, StoredTest } from './problem.js';

export interface PackageFile extends StoredFile {
  /** Relative to the package's root (problem.yaml's folder). */
  path: string;
  executable: boolean;
}

export interface PackageIssue {
  path: string;
  message: string;
}

/** The part of problem.yaml runcell reads (legacy and 2023-07 formats); the rest is ignored. */
export const problemYamlSchema = z.looseObject({
  name: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
  validation: z.string().optional(),
  /** 2023-07 format: `pass-fail`, `scoring`, `interactive`, `multi-pass` (a string or a list). */
  type: z.union([z.string(), z.array(z.string())]).optional(),
  /** runcell's own keys (other tools ignore them): the protocol of an interactive problem's interactor. */
  runcell: z.looseObject({ interactor_protocol: z.enum(['kattis', 'testlib']).optional() }).optional(),
  validator_flags: z.union([z.string(), z.array(z.string())]).optional(),
  input_validator_flags: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
  limits: z
    .looseObject({
      time_limit: z.number().positive().optional(),
      memory: z.number().positive().optional(),
      output: z.number().positive().optional(),
    })
    .optional(),
});

/** Source extensions of the catalog's languages, for the validators' programs. */
export const EXTENSION_LANGUAGES: Record<string, string> = {
  c: 'c', cpp: 'cpp', cc: 'cpp', cxx: 'cpp', py: 'python3', java: 'java', js: 'javascript', go: 'go', rs: 'rust',
  sh: 'bash', rb: 'ruby', php: 'php', lua: 'lua', pl: 'perl', pas: 'pascal', hs: 'haskell',
};

const MiB = 1024 * 1024;
/** Kattis's defaults when problem.yaml says nothing: 1 s (runcell's choice: Kattis derives it from submissions), 2 GiB, 8 MiB. */
const DEFAULT_TIME_S = 1;
const DEFAULT_MEMORY_MIB = 2048;
const DEFAULT_OUTPUT_MIB = 8;

type Comparison = NonNullable<ProblemManifest['comparison']>;

/**
 * Kattis's default output validator: tokens, case-insensitive unless
 * case_sensitive, whitespace-insensitive unless space_change_sensitive,
 * numbers within float_(absolute_|relative_)tolerance when given.
 */
export function comparisonOfFlags(flags: string[]): { comparison?: Comparison; issue?: string } {
  let caseSensitive = false;
  let spaceSensitive = false;
  let absolute: number | undefined;
  let relative: number | undefined;
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i];
    if (flag === 'case_sensitive') caseSensitive = true;
    else if (flag === 'space_change_sensitive') spaceSensitive = true;
    else if (['float_tolerance', 'float_absolute_tolerance', 'float_relative_tolerance'].includes(flag)) {
      const value = Number(flags[++i]);
      if (!Number.isFinite(value) || value < 0) return { issue: `${flag} needs a non-negative number, not ${JSON.stringify(flags[i])}` };
      if (flag !== 'float_relative_tolerance') absolute = value;
      if (flag !== 'float_absolute_tolerance') relative = value;
    } else return { issue: `unknown validator flag ${JSON.stringify(flag)} (runcell reads case_sensitive, space_change_sensitive, float_tolerance, float_absolute_tolerance, float_relative_tolerance)` };
  }
  const float = absolute !== undefined || relative !== undefined;
  if (spaceSensitive) {
    // runcell's exact mode is case- and space-sensitive at once; other mixes it cannot honour.
    if (!caseSensitive || float) return { issue: 'space_change_sensitive is supported only with case_sensitive and without float tolerances (runcell compares exactly then)' };
    return { comparison: { mode: 'exact' } };
  }
  if (!float) return { comparison: { mode: 'tokens', case_sensitive: caseSensitive } };
  // A tolerance not given is off (0), as in Kattis's validator, where either one suffices.
  return { comparison: { mode: 'float', absolute: absolute ?? 0, relative: relative ?? 0, case_sensitive: caseSensitive } };
}

function splitFlags(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : value.split(/\s+/)).filter((flag) => flag !== '');
}

function clamp(value: number, range: { min: number; max: number }): number {
  return Math.min(range.max, Math.max(range.min, Math.round(value)));
}

function limitsOf(yaml: z.infer<typeof problemYamlSchema>, timelimitFile: string | undefined, ranges: LimitRanges): ProblemManifest['limits'] {
  const fromFile = timelimitFile === undefined ? NaN : Number(timelimitFile.trim());
  const seconds = yaml.limits?.time_limit ?? (Number.isFinite(fromFile) && fromFile > 0 ? fromFile : DEFAULT_TIME_S);
  const cpu = clamp(seconds * 1000, ranges.cpu_ms);
  return {
    cpu_ms: cpu,
    // Wall: twice the CPU limit and a second more, for a program that waits on I/O (Kattis's runner gives about that).
    wall_ms: clamp(2 * cpu + 1000, ranges.wall_ms),
    memory_bytes: clamp((yaml.limits?.memory ?? DEFAULT_MEMORY_MIB) * MiB, ranges.memory_bytes),
    output_bytes: clamp((yaml.limits?.output ?? DEFAULT_OUTPUT_MIB) * MiB, ranges.output_bytes),
  };
}

/** data/sample and data/secret (any depth below them): every `.in` with its `.ans`, sorted by path (Kattis's order). */
function testsOf(files: PackageFile[], issues: PackageIssue[]): StoredTest[] {
  const byPath = new Map(files.map((file) => [file.path, file]));
  const tests: StoredTest[] = [];
  for (const file of [...files].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const match = /^data\/(sample|secret)\/(.+)\.in$/.exec(file.path);
    if (!match) continue;
    const answer = byPath.get(file.path.replace(/\.in$/, '.ans'));
    if (!answer) {
      issues.push({ path: file.path, message: 'this input has no .ans beside it' });
      continue;
    }
    const id = `${match[1]}/${match[2]}`;
    tests.push({ id, group: match[1] as 'sample' | 'secret', input: { sha256: file.sha256, size: file.size }, answer: { sha256: answer.sha256, size: answer.size } });
  }
  // Samples first, as Kattis judges them.
  return [...tests.filter((t) => t.group === 'sample'), ...tests.filter((t) => t.group === 'secret')];
}

/**
 * The programs under `folder` (output_validators/ or input_validators/): each
 * subfolder is one program, and so is each source file directly inside.
 */
function programsOf(files: PackageFile[], folder: string, flagsOf: (name: string) => string[], issues: PackageIssue[]): StoredProgram[] {
  const groups = new Map<string, PackageFile[]>();
  for (const file of files) {
    if (!file.path.startsWith(`${folder}/`)) continue;
    const rest = file.path.slice(folder.length + 1);
    const name = rest.includes('/') ? rest.slice(0, rest.indexOf('/')) : rest.replace(/\.[^.]*$/, '');
    groups.set(name, [...(groups.get(name) ?? []), file]);
  }
  const programs: StoredProgram[] = [];
  for (const [name, group] of groups) {
    const program = programOf(name, group, folder);
    if ('issue' in program) issues.push(program.issue);
    else programs.push({ ...program, flags: flagsOf(name) });
  }
  return programs;
}

function extension(path: string): string {
  return /\.([^./]+)$/.exec(path)?.[1] ?? '';
}

/** One program: the language of its sources, the entry point first (named like the program or `validate*`, else the first source). */
function programOf(name: string, group: PackageFile[], folder: string): Omit<StoredProgram, 'flags'> | { issue: PackageIssue } {
  const base = `${folder}/${name}`;
  const sources = group.filter((file) => EXTENSION_LANGUAGES[extension(file.path)]).sort((a, b) => (a.path < b.path ? -1 : 1));
  const languages = new Set(sources.map((file) => EXTENSION_LANGUAGES[extension(file.path)]));
  if (languages.size === 0) return { issue: { path: base, message: `no source file runcell can build (extensions: ${Object.keys(EXTENSION_LANGUAGES).join(', ')})` } };
  // C beside C++ (a testlib.h user with a .c helper) builds as C++.
  const language = languages.size === 2 && languages.has('c') && languages.has('cpp') ? 'cpp' : languages.size === 1 ? [...languages][0] : undefined;
  if (!language) return { issue: { path: base, message: `sources in several languages (${[...languages].join(', ')})` } };
  const stem = (file: PackageFile) => file.path.slice(file.path.lastIndexOf('/') + 1).replace(/\.[^.]*$/, '');
  const entry = sources.find((file) => stem(file) === name) ?? sources.find((file) => /^validat/.test(stem(file))) ?? sources[0];
  const relative = (file: PackageFile): ProgramFile => ({
    path: file.path.slice(file.path.startsWith(`${base}/`) ? base.length + 1 : folder.length + 1),
    sha256: file.sha256,
    size: file.size,
    executable: file.executable,
  });
  return { name, language, files: [entry, ...group.filter((file) => file !== entry)].map(relative) };
}

export interface PackageReading {
  manifest?: Omit<ProblemManifest, 'id' | 'revision' | 'status' | 'created_at'>;
  issues: PackageIssue[];
}

/** Whether problem.yaml makes the problem interactive: legacy `validation: custom interactive`, or 2023-07 `type: interactive`. */
function isInteractive(yaml: z.infer<typeof problemYamlSchema>, validation: string[]): boolean {
  const types = yaml.type === undefined ? [] : Array.isArray(yaml.type) ? yaml.type : yaml.type.split(/\s+/);
  return validation.includes('interactive') || types.includes('interactive');
}

type Judging = Pick<NonNullable<PackageReading['manifest']>, 'comparison' | 'output_validator' | 'interactive' | 'checker'>;

/**
 * An interactive problem's programs: the interactor in output_validators/ (exactly one), and for a testlib
 * interactor optionally output_validators/checker/ (or checker.*), the testlib checker of its output file.
 */
function interactiveJudging(yaml: z.infer<typeof problemYamlSchema>, validators: StoredProgram[], flags: string[], issues: PackageIssue[]): Judging {
  const protocol = yaml.runcell?.interactor_protocol ?? 'kattis';
  const checker = protocol === 'testlib' ? validators.find((program) => program.name === 'checker') : undefined;
  const interactors = validators.filter((program) => program !== checker);
  if (interactors.length !== 1) {
    const expected = protocol === 'testlib' ? 'exactly one interactor (and optionally a checker named checker)' : 'exactly one interactor';
    issues.push({ path: 'output_validators', message: `an interactive problem needs ${expected} in output_validators, found ${interactors.length}` });
  }
  // testlib's command line ends with the answer file (then a report file): flags have no place on it.
  if (protocol === 'testlib' && flags.length > 0) issues.push({ path: 'problem.yaml/validator_flags', message: 'validator_flags are not passed to a testlib interactor (its arguments are input, output and answer)' });
  return { output_validator: interactors[0], interactive: { protocol }, ...(checker ? { checker: { ...checker, flags: [] } } : {}) };
}

/** How each test is judged: the default validator's comparison, a custom output validator, or an interactor. */
function judgingOf(yaml: z.infer<typeof problemYamlSchema>, files: PackageFile[], issues: PackageIssue[]): Judging {
  const validation = (yaml.validation ?? 'default').trim().split(/\s+/);
  const interactive = isInteractive(yaml, validation);
  // 2023-07 has no `validation`: an interactive problem's validator is custom by nature.
  const custom = validation[0] === 'custom' || (interactive && yaml.validation === undefined);
  if (!custom && validation[0] !== 'default') issues.push({ path: 'problem.yaml/validation', message: `validation must be default or custom, not ${JSON.stringify(yaml.validation)}` });
  if (interactive && !custom) issues.push({ path: 'problem.yaml/validation', message: 'an interactive problem needs validation: custom interactive (its interactor is the output validator)' });
  if (yaml.runcell?.interactor_protocol && !interactive) issues.push({ path: 'problem.yaml/runcell.interactor_protocol', message: 'interactor_protocol is for interactive problems' });
  const flags = splitFlags(yaml.validator_flags);
  const outputValidators = programsOf(files, 'output_validators', () => flags, issues);
  if (interactive) return interactiveJudging(yaml, outputValidators, flags, issues);
  if (custom) {
    if (outputValidators.length !== 1) issues.push({ path: 'output_validators', message: `validation: custom needs exactly one output validator, found ${outputValidators.length}` });
    return { output_validator: outputValidators[0] };
  }
  const outcome = comparisonOfFlags(flags);
  if (outcome.issue) issues.push({ path: 'problem.yaml/validator_flags', message: outcome.issue });
  return outcome.comparison ? { comparison: outcome.comparison } : {};
}

/** The package's manifest, or every reason it cannot be one. */
export function readProblemPackage(files: PackageFile[], yamlObject: unknown, timelimitFile: string | undefined, ranges: LimitRanges, fallbackName: string): PackageReading {
  const issues: PackageIssue[] = [];
  const yaml = problemYamlSchema.safeParse(yamlObject ?? {});
  if (!yaml.success) return { issues: yaml.error.issues.map((issue) => ({ path: `problem.yaml/${issue.path.join('.')}`, message: issue.message })) };
  const judging = judgingOf(yaml.data, files, issues);
  const inputFlags = yaml.data.input_validator_flags;
  const inputValidators = programsOf(files, 'input_validators', (name) => splitFlags(typeof inputFlags === 'string' || inputFlags === undefined ? inputFlags : inputFlags[name]), issues);
  const tests = testsOf(files, issues);
  if (tests.length === 0) issues.push({ path: 'data', message: 'no test: data/sample and data/secret hold no .in/.ans pair' });
  if (issues.length > 0) return { issues };
  const name = typeof yaml.data.name === 'string' ? yaml.data.name : (yaml.data.name?.en ?? Object.values(yaml.data.name ?? {})[0] ?? fallbackName);
  const used = new Set(tests.flatMap((t) => [t.input.sha256, t.answer.sha256]));
  const bytes = files.filter((f) => used.has(f.sha256)).reduce((sum, f) => sum + f.size, 0);
  return {
    issues,
    manifest: {
      name,
      limits: limitsOf(yaml.data, timelimitFile, ranges),
      ...judging,
      input_validators: inputValidators,
      tests,
      bytes,
    },
  };
}
