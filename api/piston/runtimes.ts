/**
 * Piston's names for runcell's languages: the `language`, `aliases` and
 * `runtime` GET /api/v2/runtimes lists (Piston's package names, so that
 * clients written against Piston find theirs), and the resolution of a
 * request's language + version (a semver range) to one of them.
 */

export interface PistonName {
  /** runcell's language id. */
  id: string;
  language: string;
  aliases: string[];
  runtime?: string;
}

/** In runcell's catalog order; a runcell language absent here is not offered through Piston. */
export const PISTON_NAMES: PistonName[] = [
  { id: 'c', language: 'c', aliases: ['gcc'], runtime: 'gcc' },
  { id: 'cpp', language: 'c++', aliases: ['cpp', 'g++'], runtime: 'gcc' },
  { id: 'python3', language: 'python', aliases: ['py', 'py3', 'python3'] },
  { id: 'javascript', language: 'javascript', aliases: ['node-javascript', 'node-js', 'javascript', 'js'], runtime: 'node' },
  { id: 'java', language: 'java', aliases: [] },
  { id: 'go', language: 'go', aliases: ['go', 'golang'] },
  { id: 'rust', language: 'rust', aliases: ['rs'] },
  { id: 'bash', language: 'bash', aliases: ['sh'] },
  { id: 'ruby', language: 'ruby', aliases: ['ruby3', 'rb'] },
  { id: 'php', language: 'php', aliases: [] },
  { id: 'lua', language: 'lua', aliases: [] },
  { id: 'perl', language: 'perl', aliases: ['pl'] },
  { id: 'pascal', language: 'pascal', aliases: ['freepascal', 'pp', 'pas'], runtime: 'fpc' },
  { id: 'haskell', language: 'haskell', aliases: ['hs'] },
  { id: 'csharp', language: 'csharp', aliases: ['mono', 'mono-csharp', 'mono-c#', 'mono-cs', 'c#', 'cs'], runtime: 'mono' },
  { id: 'kotlin', language: 'kotlin', aliases: ['kt'] },
  { id: 'ocaml', language: 'ocaml', aliases: ['ocaml', 'ml'] },
  { id: 'scala', language: 'scala', aliases: ['scala', 'sc'] },
  { id: 'r', language: 'rscript', aliases: ['r'] },
  { id: 'prolog', language: 'prolog', aliases: ['prolog', 'plg'] },
  { id: 'commonlisp', language: 'lisp', aliases: ['lisp', 'cl', 'sbcl', 'commonlisp'] },
  { id: 'ada', language: 'ada', aliases: ['gnat'] },
  { id: 'fortran', language: 'fortran', aliases: ['fortran', 'f90'], runtime: 'gcc' },
  { id: 'd', language: 'd', aliases: ['gdc'], runtime: 'gcc' },
  // Not Piston's erlang (escripts, main/1): runcell's is a compiled module run by its main/0.
  { id: 'elixir', language: 'elixir', aliases: ['elixir', 'exs'] },
  { id: 'clojure', language: 'clojure', aliases: ['clojure', 'clj'] },
  { id: 'nim', language: 'nim', aliases: [] },
  { id: 'awk', language: 'awk', aliases: ['gawk'], runtime: 'gawk' },
];

export interface PistonRuntime {
  language: string;
  version: string;
  aliases: string[];
  runtime?: string;
  /** runcell's language id (not sent to clients). */
  id: string;
}

/** The runtimes the workers have (their reported versions); none before a worker has reported. */
export function installedRuntimes(installed: Record<string, string> | undefined): PistonRuntime[] {
  if (!installed) return [];
  return PISTON_NAMES.filter((name) => name.id in installed).map((name) => ({
    language: name.language,
    version: installed[name.id],
    aliases: name.aliases,
    ...(name.runtime ? { runtime: name.runtime } : {}),
    id: name.id,
  }));
}

/** What GET /api/v2/runtimes sends for a runtime. */
export function runtimeView(runtime: PistonRuntime): Omit<PistonRuntime, 'id'> {
  const { id: _id, ...view } = runtime;
  return view;
}

function parts(version: string): number[] {
  return version.split('.').map((part) => Number.parseInt(part, 10) || 0);
}

/**
 * Whether `version` satisfies `range`: `*`, `x`, an exact version, a prefix
 * (`3`, `3.11`, `3.x`), `^a.b.c` (same major, not lower) or `~a.b.c` (same
 * minor, not lower): the ranges Piston clients send, without a semver
 * dependency for the rest.
 */
export function satisfies(version: string, range: string): boolean {
  const wanted = range.trim();
  if (wanted === '*' || wanted === 'x' || wanted === '') return true;
  const have = parts(version);
  const op = wanted[0];
  if (op === '^' || op === '~') {
    const want = parts(wanted.slice(1));
    const fixed = op === '^' ? 1 : 2;
    for (let i = 0; i < fixed && i < want.length; i++) if (have[i] !== want[i]) return false;
    return compare(have, want) >= 0;
  }
  const prefix = wanted.split('.').filter((part) => part !== 'x' && part !== '*');
  return prefix.every((part, i) => String(have[i] ?? '') === String(Number.parseInt(part, 10)) && /^\d+$/.test(part));
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The runtime a request names (by language or alias), the latest satisfying `range`. */
export function resolveRuntime(runtimes: PistonRuntime[], language: string, range: string): PistonRuntime | undefined {
  const matching = runtimes.filter((r) => (r.language === language || r.aliases.includes(language)) && satisfies(r.version, range));
  return matching.sort((a, b) => compare(parts(b.version), parts(a.version)))[0];
}
