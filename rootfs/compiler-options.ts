/**
 * Which compiler options a job may add to its language's compile command
 * (`compile_args`; Judge0's `compiler_options`): policy as data, an
 * allow-list of whole words per compiler family. Anything not listed is
 * refused before the job is queued (api/jobs.ts, api/judge0/submission.ts)
 * and again by the worker (worker/plan.ts), so a job that slipped past the
 * API fails closed.
 *
 * Why an allow-list although the compiler runs inside the sandbox: options
 * that name files (`-o`, `@file`, `-include`, `-I`, `-L`, `-B`, `-specs=`,
 * `-fplugin=`, `-wrapper`, `--sysroot`, `-Wl,`/`-Wa,`/`-Wp,` passed to the
 * linker, assembler or preprocessor) would let a job read any file the
 * rootfs has into its output, load code into the compiler, or move the
 * program away from where the run step looks for it. The listed options
 * change code generation, diagnostics and macros only; none takes a path
 * (their values exclude `/`), so the compile still reads only the job's
 * files and the toolchain's own headers and libraries.
 */

export interface CompilerOptionRule {
  /** The whole word must match. */
  pattern: RegExp;
  /** How docs/compat.md shows it. */
  shown: string;
}

/** gcc and g++ (C, C++): what Judge0 users pass (`-DONLINE_JUDGE`, `-O2`, `-std=c++20`, `-Wall`, `-lm`...). */
const GCC: CompilerOptionRule[] = [
  { pattern: /^-O([0-3sgz]|fast)?$/, shown: '-O, -O0..-O3, -Os, -Og, -Oz, -Ofast' },
  { pattern: /^-std=[a-z0-9+]+$/, shown: '-std=<standard>' },
  { pattern: /^-D[A-Za-z_][A-Za-z0-9_]*(=.*)?$/s, shown: '-D<name>[=<value>] (joined to its name)' },
  { pattern: /^-U[A-Za-z_][A-Za-z0-9_]*$/, shown: '-U<name>' },
  // No comma: -Wl, -Wa, -Wp, pass words on to the linker, assembler and preprocessor.
  { pattern: /^-W[a-z][a-z0-9+-]*(=[a-z0-9+-]+)?$/, shown: '-W<warning>[=<level>] (not -Wl, -Wa, -Wp,)' },
  { pattern: /^-(w|pedantic|pedantic-errors|ansi|pthread|static|static-libgcc|static-libstdc\+\+|s)$/, shown: '-w, -pedantic, -pedantic-errors, -ansi, -pthread, -static, -static-libgcc, -static-libstdc++, -s' },
  { pattern: /^-g([0-3]|gdb|dwarf(-[2-5])?)?$/, shown: '-g, -g0..-g3, -ggdb, -gdwarf[-N]' },
  // -f options without a value; with one only those listed, whose values are names or numbers (-fplugin=, -fprofile-use=... name files).
  { pattern: /^-f(no-)?[a-z0-9][a-z0-9+-]*$/, shown: '-f<feature>, -fno-<feature>' },
  {
    pattern: /^-f(sanitize|sanitize-recover|max-errors|template-depth|constexpr-depth|constexpr-loop-limit|constexpr-ops-limit|diagnostics-color|abi-version|visibility|exec-charset|input-charset|tabstop)=[A-Za-z0-9_,.+-]+$/,
    shown: '-fsanitize=, -fsanitize-recover=, -fmax-errors=, -ftemplate-depth=, -fconstexpr-depth=, -fconstexpr-loop-limit=, -fconstexpr-ops-limit=, -fdiagnostics-color=, -fabi-version=, -fvisibility=, -fexec-charset=, -finput-charset=, -ftabstop= (values without /)',
  },
  { pattern: /^-m[a-z0-9][a-z0-9-]*(=[a-z0-9_.,-]+)?$/, shown: '-m<machine option>[=<value>] (-march=native, -mavx2, ...)' },
  { pattern: /^-l[a-z0-9_+-]+$/, shown: '-l<library> (from the rootfs\'s library directories; not -l:<file>)' },
];

export const COMPILER_OPTION_FAMILIES = { gcc: GCC } as const;
export type CompilerOptionFamily = keyof typeof COMPILER_OPTION_FAMILIES;

/** At most this many words (Judge0 caps the text at 512 characters). */
export const MAX_COMPILE_ARGS = 64;

/** Why `args` may not be added to a compile of `family`, or undefined when every word is allowed. */
export function compileArgsProblem(family: CompilerOptionFamily | undefined, args: readonly string[]): string | undefined {
  if (args.length === 0) return undefined;
  if (!family) return 'this language takes no compiler options';
  if (args.length > MAX_COMPILE_ARGS) return `at most ${MAX_COMPILE_ARGS} compiler options`;
  const rules = COMPILER_OPTION_FAMILIES[family];
  const refused = args.find((word) => !rules.some((rule) => rule.pattern.test(word)));
  return refused === undefined ? undefined : `${JSON.stringify(refused)} is not an allowed compiler option (see docs/compat.md, compiler_options)`;
}
