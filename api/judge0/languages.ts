/**
 * Judge0 CE 1.13.1's language ids and names for runcell's languages. The
 * ids are Judge0's own (clients hard-code them: 71 is Python, 54 C++); the
 * names carry the version the workers report, the way Judge0's carry theirs
 * ("Python (3.8.1)"). A runcell language Judge0 has no id for gets one of
 * 200 and up, clear of every id Judge0 CE or its hosted service uses.
 */
import { expandCommand, findLanguage } from '../../rootfs/languages.js';

export interface Judge0Name {
  /** Judge0's language id. */
  id: number;
  /** runcell's language id. */
  runcell: string;
  /** The name, around the version: `${prefix}${version})`. */
  prefix: string;
  /** Judge0's file name for the source (the IDE shows it; Java's class is Main). */
  sourceFile: string;
}

export const JUDGE0_NAMES: Judge0Name[] = [
  { id: 50, runcell: 'c', prefix: 'C (GCC ', sourceFile: 'main.c' },
  { id: 54, runcell: 'cpp', prefix: 'C++ (GCC ', sourceFile: 'main.cpp' },
  { id: 200, runcell: 'cpp20', prefix: 'C++20 (GCC ', sourceFile: 'main.cpp' },
  { id: 71, runcell: 'python3', prefix: 'Python (', sourceFile: 'script.py' },
  { id: 63, runcell: 'javascript', prefix: 'JavaScript (Node.js ', sourceFile: 'script.js' },
  { id: 62, runcell: 'java', prefix: 'Java (OpenJDK ', sourceFile: 'Main.java' },
  { id: 60, runcell: 'go', prefix: 'Go (', sourceFile: 'main.go' },
  { id: 73, runcell: 'rust', prefix: 'Rust (', sourceFile: 'main.rs' },
  { id: 46, runcell: 'bash', prefix: 'Bash (', sourceFile: 'script.sh' },
  { id: 72, runcell: 'ruby', prefix: 'Ruby (', sourceFile: 'script.rb' },
  { id: 68, runcell: 'php', prefix: 'PHP (', sourceFile: 'script.php' },
  { id: 64, runcell: 'lua', prefix: 'Lua (', sourceFile: 'script.lua' },
  { id: 85, runcell: 'perl', prefix: 'Perl (', sourceFile: 'script.pl' },
  { id: 67, runcell: 'pascal', prefix: 'Pascal (FPC ', sourceFile: 'main.pas' },
  { id: 61, runcell: 'haskell', prefix: 'Haskell (GHC ', sourceFile: 'main.hs' },
  { id: 51, runcell: 'csharp', prefix: 'C# (Mono ', sourceFile: 'Main.cs' },
  { id: 78, runcell: 'kotlin', prefix: 'Kotlin (', sourceFile: 'Main.kt' },
  { id: 65, runcell: 'ocaml', prefix: 'OCaml (', sourceFile: 'main.ml' },
  { id: 81, runcell: 'scala', prefix: 'Scala (', sourceFile: 'Main.scala' },
  { id: 80, runcell: 'r', prefix: 'R (', sourceFile: 'script.r' },
  // Judge0's 69 is GNU Prolog; its programs (:- initialization(main).) run in SWI-Prolog as they are.
  { id: 69, runcell: 'prolog', prefix: 'Prolog (SWI-Prolog ', sourceFile: 'main.pro' },
  { id: 55, runcell: 'commonlisp', prefix: 'Common Lisp (SBCL ', sourceFile: 'script.lisp' },
  { id: 201, runcell: 'ada', prefix: 'Ada (GNAT ', sourceFile: 'main.adb' },
  { id: 59, runcell: 'fortran', prefix: 'Fortran (GFortran ', sourceFile: 'main.f90' },
  // Judge0's 56 is DMD; the language is the same, the compiler GCC's.
  { id: 56, runcell: 'd', prefix: 'D (GDC ', sourceFile: 'main.d' },
  // Not Judge0's 58: that one runs an escript (main/1, no -module), runcell a compiled module's main/0.
  { id: 202, runcell: 'erlang', prefix: 'Erlang (OTP ', sourceFile: 'main.erl' },
  { id: 57, runcell: 'elixir', prefix: 'Elixir (', sourceFile: 'script.exs' },
  { id: 86, runcell: 'clojure', prefix: 'Clojure (', sourceFile: 'main.clj' },
  { id: 203, runcell: 'nim', prefix: 'Nim (', sourceFile: 'main.nim' },
  { id: 204, runcell: 'awk', prefix: 'AWK (GNU Awk ', sourceFile: 'main.awk' },
];

export interface Judge0Language {
  id: number;
  name: string;
  is_archived: boolean;
  source_file: string;
  compile_cmd: string | null;
  run_cmd: string;
  /** runcell's language id (not sent). */
  runcell: string;
}

/** Judge0's languages for what the workers have installed (none before a worker has reported), sorted by name as Judge0 does. */
export function judge0Languages(installed: Record<string, string> | undefined): Judge0Language[] {
  if (!installed) return [];
  return JUDGE0_NAMES.filter((n) => n.runcell in installed)
    .map((n) => {
      const language = findLanguage(n.runcell)!;
      // Shown, not run: the memory limit in a JVM flag is the job's own.
      const show = (template: string[]) => expandCommand(template, n.sourceFile, { memoryBytes: 0 }).join(' ').replace('-XX:MaxRAM=0', '-XX:MaxRAM=<memory limit>');
      return {
        id: n.id,
        name: `${n.prefix}${installed[n.runcell]})`,
        is_archived: false,
        source_file: n.sourceFile,
        compile_cmd: language.compile ? show(language.compile) : null,
        run_cmd: show(language.run),
        runcell: n.runcell,
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
