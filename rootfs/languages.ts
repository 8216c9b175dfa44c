/**
 * The language catalog: data only, one entry per language. It is the one
 * place a language is defined: the rootfs build installs each selected
 * language's Debian packages (see manifest.json and readManifest) and asks
 * its toolchain for its version; runJob compiles and runs with its commands
 * and limits; GET /v1/languages and docs/languages.md list it.
 *
 * Command templates: `{entry}` is the first file of the job (its entry point,
 * whatever it is called); `{sources}`, an argument of its own, stands for
 * the entry and then every other file of the job that the language's
 * `sources` selects, in the job's order (the files a compiler is given);
 * `{options}`, an argument of its own, stands for the job's compile_args
 * (none by default; only in languages with `compilerOptions`), after the
 * sources: gcc applies -O, -D, -std wherever they stand (the last -O wins
 * over the template's), and a -l library must follow the objects using it;
 * `{binary}` is where a compile step leaves the
 * program in /box; `{class}` is the entry's Java class name (its path without
 * `.java` or `.scala`, slashes as dots; Main.kt's is MainKt); `{module}` is
 * the entry's file name without its directory and extension (Erlang's
 * module); `{memory_bytes}` is the step's memory limit (for
 * runtimes that size their heap from the machine's memory: the sandbox has
 * no /sys, so the JVM cannot see its cgroup and would size itself after the
 * host).
 */
import type { RequestedLimits } from '../contract/limits.js';
import type { SeccompProfileName } from '../contract/job-request.js';
import type { CompilerOptionFamily } from './compiler-options.js';

export interface Language {
  id: string;
  name: string;
  /** Debian packages the rootfs needs for it (installed without their Recommends). */
  packages: string[];
  /** File name used when a request gives the source without a name; for Java the class name follows from it. */
  defaultFile: string;
  compile?: string[];
  /** The compiler options a job may add at `{options}` (rootfs/compiler-options.ts); without it, none. */
  compilerOptions?: CompilerOptionFamily;
  /**
   * Interpreted languages: a syntax check run as their compile step (through
   * the compile cache like a compile). It leaves the sources as they are; a
   * syntax error is then a failed compile step (judged: compile_error), not
   * a runtime error. A language has a compile or a check, not both.
   */
  check?: string[];
  /** The files `{sources}` stands for, beside the entry. Without it, the entry alone. */
  sources?: SourceSelection;
  /** How a program in several files is built or loaded (docs/languages.md lists it). */
  multiFile: string;
  run: string[];
  /** Prints the toolchain's version (first line of stdout); run in the rootfs when it is built. */
  version: string[];
  /** Environment for both steps, under the request's own variables (the sandbox's PATH, HOME=/tmp and LANG win over both). */
  env?: Record<string, string>;
  /** Limits this language needs beyond the defaults (applied under the request's). */
  compileLimits?: RequestedLimits;
  runLimits?: RequestedLimits;
  /** seccomp profile of its steps (sandbox/seccomp-policy.ts) unless the request names one. Default "standard". */
  seccompProfile?: SeccompProfileName;
}

export interface SourceSelection {
  /** File name endings (with the dot) of the sources. */
  extensions: string[];
  /** Only files in the entry's directory (Go: one package per directory). Default: anywhere in the job. */
  entryDirectoryOnly?: boolean;
}

export const BINARY = 'main';

/**
 * A check command run once per source (for checkers that take one file): every
 * file is checked and every error printed; the exit status is 1 if any failed.
 */
function eachSource(command: string): string[] {
  return ['/bin/sh', '-c', `status=0; for f; do ${command} "$f" || status=1; done; exit $status`, 'check', '{sources}'];
}

/** Python's check: compile() of every source (py_compile without its .pyc), each error printed as Python prints it. */
const PYTHON_CHECK = [
  'import sys, traceback',
  'status = 0',
  'for path in sys.argv[1:]:',
  '    try:',
  "        with open(path, 'rb') as source: compile(source.read(), path, 'exec', dont_inherit=True)",
  '    except (SyntaxError, ValueError) as error:',
  '        status = 1',
  "        sys.stderr.write(''.join(traceback.format_exception_only(type(error), error)))",
  'sys.exit(status)',
].join('\n');

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** A version command that prints the first word matching a dotted version number of a command's output. */
function versionOf(command: string): string[] {
  return ['/bin/sh', '-c', `${command} 2>&1 | grep -o -m1 -E '[0-9]+(\\.[0-9]+)+' | head -n1`];
}

const CPP_SOURCES = ['.cpp', '.cc', '.cxx', '.c++'];

/** Where Java's compile step writes the class to run (read by the launcher as an @argfile). */
export const JAVA_MAIN_FILE = '.runcell-main-class';

/**
 * Java's compile step: javac (the rest of the arguments), then javap lists
 * the compiled top-level classes that have public static void main(String[])
 * (one JVM start for all of them): the entry's class if it is one of them,
 * else the only one. Arguments: the entry's class, the step's memory limit,
 * then javac's command.
 */
const JAVA_BUILD_SCRIPT = [
  'entry=$1; memory=$2; shift 2',
  '"$@" || exit',
  "classes=$(find . -name '*.class' ! -name '*$*' | sed -e 's|^[.]/||' -e 's|[.]class$||' -e 's|/|.|g' | LC_ALL=C sort)",
  // javap prints each class as a header line ending in "{" and its public members; a bad name is an error for that one only.
  `mains=$(javap -J-XX:+UseSerialGC -J-XX:-UsePerfData -J-XX:TieredStopAtLevel=1 -J-XX:MaxRAM=$memory -cp . -public $classes | awk '`,
  '  /[{]$/ { for (i = 1; i < NF; i++) if ($i ~ /^(class|interface|enum|record)$/) { name = $(i + 1); sub(/<.*/, "", name); break } }',
  "  /^ +public static (final )?void main[(]java[.]lang[.]String(\\[\\]|[.][.][.])[)]/ { print name }')",
  'main=$(printf "%s\\n" $mains | grep -x -F -e "$entry")',
  'if [ -z "$main" ]; then case $(printf "%s\\n" $mains | grep -c .) in',
  '  0) echo "no class has public static void main(String[] args)" >&2; exit 1 ;;',
  '  1) main=$mains ;;',
  '  *) echo "several classes have main ($(echo $mains)), not $entry: name the entry file after the one to run" >&2; exit 1 ;;',
  'esac; fi',
  `printf "%s\\n" "$main" > ${JAVA_MAIN_FILE}`,
].join('\n');
const JAVA_BUILD = ['/bin/sh', '-c', JAVA_BUILD_SCRIPT, 'java-build', '{class}', '{memory_bytes}'];

/**
 * JVM flags for small, one-shot programs: the serial collector (no GC
 * threads to count against pids, least memory), no perf data file in /tmp,
 * a heap sized from the job's memory limit instead of the host's memory,
 * and a deep stack for recursive solutions.
 */
/**
 * Linked into every C and C++ program: sets the default thread stack to 8 MiB
 * (glibc would take RLIMIT_STACK, the memory limit). The sandbox's helper
 * directory (sandbox/helper/thread-stack.c; HELPER_DIR of sandbox/mount.ts,
 * checked by test/limits.test.ts), bound read-only in every step.
 */
export const THREAD_STACK_OBJECT_PATH = '/usr/lib/runcell/thread-stack.o';

const JVM_FLAGS = ['-XX:+UseSerialGC', '-XX:-UsePerfData', '-XX:MaxRAM={memory_bytes}', '-XX:MaxRAMPercentage=75', '-Xss64m'];

/** JVM flags for the launcher scripts of kotlinc and scalac (JAVA_OPTS): as JVM_FLAGS, without the deep stack, C1 only (a short compile gains nothing from C2). */
const COMPILER_JAVA_OPTS = '-XX:+UseSerialGC -XX:-UsePerfData -XX:MaxRAM={memory_bytes} -XX:MaxRAMPercentage=75 -XX:TieredStopAtLevel=1';

/** R's check: parse() of every source, each error printed; exit 1 if any failed. */
const R_CHECK = [
  'status <- 0',
  'for (f in commandArgs(TRUE)) tryCatch(parse(f), error = function(e) { message(conditionMessage(e)); status <<- 1 })',
  'quit(status = status)',
].join('\n');

/** SBCL's compile: compile-file of the entry to main.fasl; a warning or an error fails it (exit 1). */
const SBCL_COMPILE = [
  '(multiple-value-bind (fasl warnings failure) (compile-file "{entry}" :output-file "{binary}.fasl")',
  '  (declare (ignore fasl warnings))',
  '  (sb-ext:exit :code (if failure 1 0)))',
].join('\n');

/**
 * The BEAM (Erlang, Elixir): one scheduler of each kind and no async
 * threads, so a job's threads do not follow the host's core count.
 */
const BEAM_FLAGS = ['+S', '1:1', '+SDcpu', '1:1', '+SDio', '1', '+A', '1'];
/** No crash dump: the run step cannot write /box, and the message on stderr says what happened. */
const BEAM_ENV = { ERL_CRASH_DUMP_SECONDS: '0' };

/** Elixir's check: every source parsed (Code.string_to_quoted!), without running it. */
const ELIXIR_CHECK = [
  'status = Enum.reduce(System.argv(), 0, fn f, s ->',
  '  case Code.string_to_quoted(File.read!(f), file: f) do',
  '    {:ok, _} -> s',
  '    {:error, {meta, message, token}} -> IO.puts(:stderr, "#{f}:#{inspect(meta)}: #{inspect(message)}#{token}"); 1',
  '  end',
  'end)',
  'System.halt(status)',
].join('\n');

/**
 * Prolog's check: every source read term by term (read_term/3, nothing
 * run: loading would run its directives), each syntax error printed; exit
 * 1 if any. Operators a program declares with op/3 are not known to it.
 */
const PROLOG_CHECK = [
  'current_prolog_flag(argv, Files),',
  'foldl([F, S0, S]>>catch((setup_call_cleanup(open(F, read, In), (repeat, read_term(In, T, []), T == end_of_file, !), close(In)), S = S0), E, (print_message(error, E), S = 1)), Files, 0, Status),',
  'halt(Status)',
].join('\n');

const CLOJURE_JAR = '/usr/share/java/clojure-1.11.jar';
/**
 * Clojure's check: every source read form by form (nothing evaluated); a
 * reader error (unbalanced brackets, a bad literal) fails it. The files come
 * after -r, which sets *command-line-args* before the -e runs, and the -e
 * exits before that REPL would start.
 */
const CLOJURE_CHECK = [
  '(let [status (atom 0)]',
  ' (doseq [f *command-line-args*]',
  '  (try (binding [*read-eval* false] (with-open [r (clojure.lang.LineNumberingPushbackReader. (clojure.java.io/reader f))] (loop [] (when-not (= ::eof (read r false ::eof)) (recur)))))',
  '   (catch Exception e (reset! status 1) (binding [*out* *err*] (println (str f ": " (.getMessage e) (when-let [c (.getCause e)] (str " " (.getMessage c)))))))))',
  ' (System/exit @status))',
].join('\n');

export const LANGUAGES: Language[] = [
  {
    id: 'c',
    name: 'C (GCC, C17)',
    packages: ['gcc', 'libc6-dev'],
    defaultFile: 'main.c',
    compile: ['gcc', '-std=gnu17', '-O2', '-pipe', '-o', '{binary}', '{sources}', THREAD_STACK_OBJECT_PATH, '{options}', '-lm'],
    compilerOptions: 'gcc',
    sources: { extensions: ['.c'] },
    multiFile: 'every .c file is compiled and they are linked into one program; headers are found by #include "..." from the including file\'s directory',
    run: ['./{binary}'],
    version: ['gcc', '-dumpfullversion'],
  },
  {
    id: 'cpp',
    name: 'C++ (G++, C++17)',
    packages: ['g++'],
    defaultFile: 'main.cpp',
    compile: ['g++', '-std=gnu++17', '-O2', '-pipe', '-o', '{binary}', '{sources}', THREAD_STACK_OBJECT_PATH, '{options}'],
    compilerOptions: 'gcc',
    sources: { extensions: CPP_SOURCES },
    multiFile: 'every .cpp, .cc, .cxx and .c++ file is compiled and they are linked into one program; headers are found by #include "..." from the including file\'s directory',
    run: ['./{binary}'],
    version: ['g++', '-dumpfullversion'],
  },
  {
    id: 'cpp20',
    name: 'C++ (G++, C++20)',
    packages: ['g++'],
    defaultFile: 'main.cpp',
    compile: ['g++', '-std=gnu++20', '-O2', '-pipe', '-o', '{binary}', '{sources}', THREAD_STACK_OBJECT_PATH, '{options}'],
    compilerOptions: 'gcc',
    sources: { extensions: CPP_SOURCES },
    multiFile: 'every .cpp, .cc, .cxx and .c++ file is compiled and they are linked into one program; headers are found by #include "..." from the including file\'s directory',
    run: ['./{binary}'],
    version: ['g++', '-dumpfullversion'],
  },
  {
    id: 'python3',
    name: 'Python 3',
    packages: ['python3'],
    defaultFile: 'main.py',
    check: ['python3', '-B', '-c', PYTHON_CHECK, '{sources}'],
    sources: { extensions: ['.py'] },
    multiFile: 'every .py file is checked; the entry imports the others as modules (its directory is on sys.path)',
    // -B: the workspace is read-only when the program runs; no .pyc to write.
    run: ['python3', '-B', '{entry}'],
    version: ['python3', '-c', 'import platform; print(platform.python_version())'],
  },
  {
    id: 'javascript',
    name: 'JavaScript (Node.js)',
    packages: ['nodejs'],
    defaultFile: 'main.js',
    check: eachSource('node --check'),
    sources: { extensions: ['.js', '.mjs', '.cjs'] },
    multiFile: 'every .js, .mjs and .cjs file is checked; the entry loads the others with require("./x") or import',
    run: ['node', '{entry}'],
    version: ['node', '-p', 'process.versions.node'],
  },
  {
    // The class run is named after the entry file ({class}): Main.java must declare class Main
    // (docs/languages.md has the conventions of each language).
    id: 'java',
    name: 'Java (OpenJDK 17)',
    packages: ['openjdk-17-jdk-headless'],
    defaultFile: 'Main.java',
    // -sourcepath .: classes the entry uses are found and compiled from the other files.
    compile: [
      ...JAVA_BUILD,
      ...['javac', '-J-XX:+UseSerialGC', '-J-XX:-UsePerfData', '-J-XX:MaxRAM={memory_bytes}', '-J-XX:TieredStopAtLevel=1', '-encoding', 'UTF-8', '-sourcepath', '.', '-d', '.', '{sources}'],
    ],
    sources: { extensions: ['.java'] },
    multiFile: `every .java file is compiled; the class run is the entry's if it has main, else the one class with public static void main(String[]) (none, or several and not the entry's: a compile error); it is written to ${JAVA_MAIN_FILE} for the run`,
    // @file: the java launcher reads the main class the compile step found from that file.
    run: ['java', ...JVM_FLAGS, '-cp', '.', `@${JAVA_MAIN_FILE}`],
    version: versionOf('javac -version'),
    // The JVM starts a dozen threads before main(); javac more.
    compileLimits: { pids: 128, memory_bytes: 1 * GiB },
    runLimits: { pids: 128 },
  },
  {
    id: 'go',
    name: 'Go',
    packages: ['golang-go'],
    defaultFile: 'main.go',
    compile: ['go', 'build', '-o', '{binary}', '{sources}'],
    sources: { extensions: ['.go'], entryDirectoryOnly: true },
    multiFile: 'every .go file in the entry\'s directory is built as package main; other directories are packages imported by relative path ("./util", GOPATH mode)',
    run: ['./{binary}'],
    version: versionOf('go version'),
    // GOPATH mode (no go.mod), cgo off (static, no gcc needed). The go command needs a
    // writable build cache; /tmp is the step's own.
    env: { GOCACHE: '/tmp/go-cache', GOPATH: '/tmp/go', GO111MODULE: 'off', CGO_ENABLED: '0' },
    compileLimits: { pids: 128, memory_bytes: 1 * GiB, cpu_ms: 30_000, wall_ms: 60_000 },
  },
  {
    id: 'rust',
    name: 'Rust',
    packages: ['rustc'],
    defaultFile: 'main.rs',
    compile: ['rustc', '--edition', '2021', '-C', 'opt-level=2', '-o', '{binary}', '{entry}'],
    multiFile: 'the entry is the crate root; rustc finds the other files from its mod declarations (mod util; is util.rs)',
    run: ['./{binary}'],
    version: versionOf('rustc --version'),
    compileLimits: { memory_bytes: 1 * GiB, cpu_ms: 30_000, wall_ms: 60_000 },
  },
  {
    id: 'bash',
    name: 'Bash',
    packages: ['bash'],
    defaultFile: 'main.sh',
    // extglob on: bash -n parses without running the program's `shopt -s extglob`, and would call its @(a|b) a syntax error.
    check: eachSource('bash -O extglob -n'),
    sources: { extensions: ['.sh', '.bash'] },
    multiFile: 'every .sh and .bash file is checked; the entry runs or sources the others (source ./x.sh)',
    run: ['bash', '{entry}'],
    version: ['bash', '-c', 'echo "${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}.${BASH_VERSINFO[2]}"'],
  },
  {
    id: 'ruby',
    name: 'Ruby',
    packages: ['ruby'],
    defaultFile: 'main.rb',
    check: eachSource('ruby -c'),
    sources: { extensions: ['.rb'] },
    multiFile: 'every .rb file is checked; the entry loads the others with require_relative',
    run: ['ruby', '{entry}'],
    version: ['ruby', '-e', 'print RUBY_VERSION'],
  },
  {
    id: 'php',
    name: 'PHP (CLI)',
    packages: ['php-cli'],
    defaultFile: 'main.php',
    check: eachSource('php -l'),
    sources: { extensions: ['.php'] },
    multiFile: 'every .php file is checked; the entry includes the others (require __DIR__ . "/x.php")',
    run: ['php', '{entry}'],
    version: ['php', '-r', 'echo PHP_VERSION;'],
  },
  {
    id: 'lua',
    name: 'Lua 5.4',
    packages: ['lua5.4'],
    defaultFile: 'main.lua',
    // One file per luac: Debian's luac5.4 (5.4.4) given several files with -p aborts with a double free.
    check: eachSource('luac5.4 -p'),
    sources: { extensions: ['.lua'] },
    multiFile: 'every .lua file is checked; the entry loads the others with require "x" (./?.lua is on package.path)',
    run: ['lua5.4', '{entry}'],
    version: versionOf('lua5.4 -v'),
  },
  {
    id: 'perl',
    name: 'Perl 5',
    packages: ['perl'],
    defaultFile: 'main.pl',
    // -c compiles the entry and every module it uses (running their BEGIN blocks, in the sandbox as any step).
    check: ['perl', '-c', '{entry}'],
    multiFile: 'the entry is checked with the modules it uses; it finds them with use lib "." (the working directory is not on @INC)',
    run: ['perl', '{entry}'],
    version: ['perl', '-e', 'printf "%vd", $^V'],
  },
  {
    id: 'pascal',
    name: 'Pascal (Free Pascal)',
    packages: ['fp-compiler'],
    defaultFile: 'main.pas',
    // -v0: only errors (fpc prints a banner and progress otherwise); -XS: static, no libc needed.
    compile: ['fpc', '-v0', '-O2', '-XS', '-o{binary}', '{entry}'],
    multiFile: 'the entry is the program; fpc compiles the units it uses from their files (uses util; is util.pas)',
    run: ['./{binary}'],
    version: ['fpc', '-iV'],
  },
  {
    id: 'haskell',
    name: 'Haskell (GHC)',
    packages: ['ghc'],
    defaultFile: 'main.hs',
    // -outputdir: the .hi/.o files go to /tmp, not beside the sources.
    compile: ['ghc', '-O', '-v0', '-outputdir', '/tmp/ghc', '-o', '{binary}', '{entry}'],
    multiFile: 'the entry is module Main; ghc compiles the modules it imports from their files (import Util is Util.hs)',
    run: ['./{binary}'],
    version: ['ghc', '--numeric-version'],
    compileLimits: { memory_bytes: 1 * GiB, cpu_ms: 30_000, wall_ms: 60_000 },
  },
  {
    id: 'csharp',
    name: 'C# (Mono)',
    packages: ['mono-mcs', 'libmono-system-numerics4.0-cil'],
    defaultFile: 'Main.cs',
    compile: ['mcs', '-nologo', '-optimize+', '-r:System.Numerics.dll', '-out:{binary}.exe', '{sources}'],
    sources: { extensions: ['.cs'] },
    multiFile: 'every .cs file is compiled into one assembly; the class with static Main is run',
    run: ['mono', '{binary}.exe'],
    version: versionOf('mcs --version'),
    runLimits: { pids: 128 },
    compileLimits: { pids: 128 },
  },
  {
    id: 'kotlin',
    name: 'Kotlin (JVM)',
    packages: ['kotlin', 'openjdk-17-jdk-headless'],
    defaultFile: 'Main.kt',
    compile: [...JAVA_BUILD, 'env', `JAVA_OPTS=${COMPILER_JAVA_OPTS}`, 'kotlinc', '-nowarn', '-d', '.', '{sources}'],
    sources: { extensions: ['.kt'] },
    multiFile: `every .kt file is compiled; the class run is the entry's if it has main (fun main in Main.kt is the class MainKt), else the one class that has (several: a compile error); it is written to ${JAVA_MAIN_FILE} for the run`,
    run: ['java', ...JVM_FLAGS, '-cp', '.:/usr/share/java/kotlin-stdlib.jar', `@${JAVA_MAIN_FILE}`],
    version: versionOf('kotlinc -version'),
    compileLimits: { pids: 128, memory_bytes: 1 * GiB, cpu_ms: 60_000, wall_ms: 120_000 },
    runLimits: { pids: 128 },
  },
  {
    id: 'ocaml',
    name: 'OCaml',
    packages: ['ocaml'],
    defaultFile: 'main.ml',
    compile: ['/bin/sh', '-c', 'exec ocamlopt -o main $(ocamldep -sort "$@")', 'ocaml-build', '{sources}'],
    sources: { extensions: ['.ml'] },
    multiFile: 'every .ml file is compiled, in the order ocamldep -sort finds from their references (Greet.hello is greet.ml), and linked into one program',
    run: ['./{binary}'],
    version: ['ocamlopt', '-version'],
  },
  {
    id: 'scala',
    name: 'Scala 2',
    packages: ['scala', 'openjdk-17-jdk-headless'],
    defaultFile: 'Main.scala',
    compile: [...JAVA_BUILD, 'env', `JAVA_OPTS=${COMPILER_JAVA_OPTS}`, 'scalac', '-nowarn', '-d', '.', '{sources}'],
    sources: { extensions: ['.scala'] },
    multiFile: `every .scala file is compiled; the object run is the entry's if it has main, else the one that has (several: a compile error); it is written to ${JAVA_MAIN_FILE} for the run`,
    run: ['java', ...JVM_FLAGS, '-cp', '.:/usr/share/java/scala-library.jar', `@${JAVA_MAIN_FILE}`],
    version: versionOf('scalac -version'),
    compileLimits: { pids: 128, memory_bytes: 1 * GiB, cpu_ms: 60_000, wall_ms: 120_000 },
    runLimits: { pids: 128 },
  },
  {
    id: 'r',
    name: 'R',
    packages: ['r-base-core'],
    defaultFile: 'main.R',
    check: ['Rscript', '-e', R_CHECK, '{sources}'],
    sources: { extensions: ['.R', '.r'] },
    multiFile: 'every .R file is parsed; the entry loads the others with source("x.R")',
    run: ['Rscript', '{entry}'],
    version: versionOf('R --version'),
  },
  {
    id: 'prolog',
    name: 'Prolog (SWI-Prolog)',
    packages: ['swi-prolog-nox'],
    defaultFile: 'main.pl',
    check: ['swipl', '-g', PROLOG_CHECK, '-t', 'halt', '--', '{sources}'],
    sources: { extensions: ['.pl', '.pro', '.prolog'] },
    multiFile: 'every .pl, .pro and .prolog file is read clause by clause (a syntax error is a compile error); the entry loads the others with :- consult(greet).',
    // -t halt: a program without :- initialization(main, main). ends after its directives instead of reading queries from stdin.
    run: ['swipl', '-q', '--on-error=status', '-t', 'halt', '{entry}'],
    version: versionOf('swipl --version'),
  },
  {
    id: 'commonlisp',
    name: 'Common Lisp (SBCL)',
    packages: ['sbcl'],
    defaultFile: 'main.lisp',
    compile: ['sbcl', '--noinform', '--non-interactive', '--no-sysinit', '--no-userinit', '--eval', SBCL_COMPILE],
    multiFile: 'the entry is compiled (a warning fails the compile, a style warning does not); it loads the others when it runs, (load "greet.lisp")',
    run: ['sbcl', '--script', '{binary}.fasl'],
    version: versionOf('sbcl --version'),
  },
  {
    id: 'ada',
    name: 'Ada (GNAT)',
    packages: ['gnat'],
    defaultFile: 'main.adb',
    // -D: the .ali and .o files go to /tmp, not beside the sources.
    compile: ['gnatmake', '-q', '-O2', '-D', '/tmp', '-o', '{binary}', '{entry}'],
    multiFile: 'the entry is the main procedure (main.adb is procedure Main); gnatmake compiles the packages it withs from their files (with Greet; is greet.ads and greet.adb)',
    run: ['./{binary}'],
    version: versionOf('gnatmake --version'),
  },
  {
    id: 'fortran',
    name: 'Fortran (GFortran)',
    packages: ['gfortran'],
    defaultFile: 'main.f90',
    // The entry last: a module must be compiled before the files that use it. -J: .mod files in /tmp.
    compile: ['/bin/sh', '-c', 'entry=$1; shift; exec gfortran -O2 -J /tmp -o main "$@" "$entry"', 'fortran-build', '{sources}'],
    sources: { extensions: ['.f90', '.f95', '.f03', '.f08', '.f', '.for'] },
    multiFile: 'every .f90, .f95, .f03, .f08, .f and .for file is compiled, the others in the job\'s order and the entry last (a module before the files that use it), and linked into one program',
    run: ['./{binary}'],
    version: ['gfortran', '-dumpfullversion'],
  },
  {
    id: 'd',
    name: 'D (GDC)',
    packages: ['gdc'],
    defaultFile: 'main.d',
    compile: ['gdc', '-O2', '-I.', '-o', '{binary}', '{sources}'],
    sources: { extensions: ['.d'] },
    multiFile: 'every .d file is compiled and they are linked into one program; import greet; is greet.d',
    run: ['./{binary}'],
    version: ['gdc', '-dumpfullversion'],
  },
  {
    id: 'erlang',
    name: 'Erlang (OTP)',
    packages: ['erlang-base'],
    defaultFile: 'main.erl',
    compile: ['erlc', '{sources}'],
    sources: { extensions: ['.erl'] },
    multiFile: 'every .erl file is compiled (module x is x.erl); the entry\'s module is run: its main/0',
    run: ['erl', ...BEAM_FLAGS, '-noshell', '-s', '{module}', 'main', '-s', 'init', 'stop'],
    // The release's full version: erl itself knows only the major one.
    version: versionOf('cat /usr/lib/erlang/releases/*/OTP_VERSION'),
    env: BEAM_ENV,
    compileLimits: { pids: 128 },
    runLimits: { pids: 128 },
  },
  {
    id: 'elixir',
    name: 'Elixir',
    packages: ['elixir'],
    defaultFile: 'main.exs',
    check: ['elixir', '--erl', BEAM_FLAGS.join(' '), '-e', ELIXIR_CHECK, '--', '{sources}'],
    sources: { extensions: ['.exs', '.ex'] },
    multiFile: 'every .exs and .ex file is parsed; the entry loads the others with Code.require_file("greet.exs", __DIR__)',
    run: ['elixir', '--erl', BEAM_FLAGS.join(' '), '{entry}'],
    version: versionOf("elixir --version | grep '^Elixir'"),
    env: BEAM_ENV,
    compileLimits: { pids: 128 },
    runLimits: { pids: 128 },
  },
  {
    id: 'clojure',
    name: 'Clojure',
    packages: ['clojure'],
    defaultFile: 'main.clj',
    check: ['java', ...JVM_FLAGS, '-cp', CLOJURE_JAR, 'clojure.main', '-e', CLOJURE_CHECK, '-r', '{sources}'],
    sources: { extensions: ['.clj'] },
    multiFile: 'every .clj file is read (a reader error is a compile error); the entry loads the others with (load-file "greet.clj") or require (the working directory is on the classpath)',
    run: ['java', ...JVM_FLAGS, '-cp', `${CLOJURE_JAR}:.`, 'clojure.main', '{entry}'],
    version: ['java', '-cp', CLOJURE_JAR, 'clojure.main', '-e', '(println (clojure-version))'],
    compileLimits: { pids: 128, memory_bytes: 1 * GiB },
    runLimits: { pids: 128, cpu_ms: 10_000, wall_ms: 20_000 },
  },
  {
    id: 'nim',
    name: 'Nim',
    packages: ['nim', 'gcc', 'libc6-dev'],
    defaultFile: 'main.nim',
    compile: ['nim', 'compile', '--hints:off', '--verbosity:0', '-d:release', '--parallelBuild:1', '--nimcache:/tmp/nimcache', '--out:{binary}', '{entry}'],
    multiFile: 'the entry is the main module; nim compiles the modules it imports from their files (import greet is greet.nim)',
    run: ['./{binary}'],
    version: versionOf('nim --version'),
    compileLimits: { memory_bytes: 1 * GiB, cpu_ms: 30_000, wall_ms: 60_000 },
  },
  {
    id: 'awk',
    name: 'AWK (GNU Awk)',
    packages: ['gawk'],
    defaultFile: 'main.awk',
    // --pretty-print parses the program (and the files it @includes) without running it.
    check: eachSource('gawk --pretty-print=/dev/null -f'),
    sources: { extensions: ['.awk'] },
    multiFile: 'every .awk file is checked; the entry includes the others with @include "greet.awk"',
    run: ['gawk', '-f', '{entry}'],
    version: versionOf('gawk --version'),
  },
];

export function findLanguage(id: string): Language | undefined {
  return LANGUAGES.find((language) => language.id === id);
}

export interface CommandValues {
  /** The step's memory limit, for `{memory_bytes}`. */
  memoryBytes?: number;
  /** What `{sources}` stands for (sourcesOf); default the entry alone. */
  sources?: string[];
  /** What `{options}` stands for: the job's compile_args, checked against the language's compilerOptions. Default none. */
  options?: string[];
}

/** The entry, then the job's other files that `language.sources` selects, in the job's order. */
export function sourcesOf(language: Pick<Language, 'sources'>, paths: string[]): string[] {
  const [entry, ...others] = paths;
  const selection = language.sources;
  if (!selection) return [entry.startsWith('-') ? `./${entry}` : entry];
  const directory = (path: string) => path.slice(0, Math.max(0, path.lastIndexOf('/')));
  const selected = others.filter((path) => selection.extensions.some((extension) => path.endsWith(extension)) && (!selection.entryDirectoryOnly || directory(path) === directory(entry)));
  // A path is an argument of a compiler: "./" keeps a file called "-o.c" a file, not an option.
  return [entry, ...selected].map((path) => (path.startsWith('-') ? `./${path}` : path));
}

/**
 * The JVM class an entry file declares: its path without the extension,
 * slashes as dots (Main.java and Main.scala: Main); Kotlin's top-level
 * functions of Main.kt are in the class MainKt.
 */
function classOf(entry: string): string {
  const name = entry.replace(/\.(java|scala)$/, '').replaceAll('/', '.');
  if (!entry.endsWith('.kt')) return name;
  const kotlin = name.replace(/\.kt$/, '');
  const dot = kotlin.lastIndexOf('.');
  return `${kotlin.slice(0, dot + 1)}${kotlin.charAt(dot + 1).toUpperCase()}${kotlin.slice(dot + 2)}Kt`;
}

/** Fills `{entry}`, `{sources}`, `{binary}`, `{class}`, `{module}` and `{memory_bytes}` into a command template. */
export function expandCommand(template: string[], entry: string, values: CommandValues = {}): string[] {
  const javaClass = classOf(entry);
  const module = entry.slice(entry.lastIndexOf('/') + 1).replace(/\.[^.]*$/, '');
  return template.flatMap((part) => {
    if (part === '{sources}') return values.sources ?? [entry];
    if (part === '{options}') return values.options ?? [];
    if (part.includes('{memory_bytes}') && values.memoryBytes === undefined) throw new Error(`${part}: needs the step's memory limit`);
    return part
      .replaceAll('{entry}', entry)
      .replaceAll('{binary}', BINARY)
      .replaceAll('{class}', javaClass)
      .replaceAll('{module}', module)
      .replaceAll('{memory_bytes}', String(values.memoryBytes));
  });
}

/**
 * The languages an operator selected (RUNCELL_LANGUAGES, comma-separated ids;
 * empty = all), checked against the catalog and in catalog order.
 */
export function selectLanguages(ids?: string[]): Language[] {
  if (!ids || ids.length === 0) return LANGUAGES;
  const unknown = ids.filter((id) => !findLanguage(id));
  if (unknown.length > 0) {
    throw new Error(`unknown language ${unknown.map((id) => JSON.stringify(id)).join(', ')}; the catalog has ${LANGUAGES.map((l) => l.id).join(', ')}`);
  }
  return LANGUAGES.filter((language) => ids.includes(language.id));
}

/** Why a rootfs with `installed` (its marker's languages) cannot run `language`, or undefined when it can. */
export function languageNotInstalledProblem(language: string, installed: Record<string, string>): string | undefined {
  if (language in installed) return undefined;
  const offered = Object.keys(installed);
  return `language ${JSON.stringify(language)} is not installed in this rootfs (it has ${offered.length ? offered.join(', ') : 'none'}; see RUNCELL_LANGUAGES)`;
}
