/**
 * The language catalog: data only. `{entry}` is the first file of the job
 * (its entry point, whatever it is called); `{binary}` is where a compile
 * step leaves the program in /box. Packages are what the rootfs needs.
 */
import type { RequestedLimits } from '../sandbox/limits.js';
import type { SeccompProfileName } from '../sandbox/seccomp-policy.js';

export interface Language {
  id: string;
  name: string;
  /** Debian packages the rootfs needs for it (see manifest.json). */
  packages: string[];
  /** File name used when a request gives the source without a name. */
  defaultFile: string;
  compile?: string[];
  run: string[];
  /** Prints the toolchain's version; run in the rootfs when it is built. */
  version: string[];
  /** Limits this language needs beyond the defaults (applied under the request's). */
  compileLimits?: RequestedLimits;
  runLimits?: RequestedLimits;
  /** seccomp profile of its steps (sandbox/seccomp-policy.ts) unless the request names one. Default "standard". */
  seccompProfile?: SeccompProfileName;
}

export const BINARY = 'main';

export const LANGUAGES: Language[] = [
  {
    id: 'c',
    name: 'C (GCC, C17)',
    packages: ['gcc', 'libc6-dev'],
    defaultFile: 'main.c',
    compile: ['gcc', '-std=gnu17', '-O2', '-pipe', '-o', '{binary}', '{entry}', '-lm'],
    run: ['./{binary}'],
    version: ['gcc', '-dumpfullversion'],
  },
  {
    id: 'cpp',
    name: 'C++ (G++, C++17)',
    packages: ['g++'],
    defaultFile: 'main.cpp',
    compile: ['g++', '-std=gnu++17', '-O2', '-pipe', '-o', '{binary}', '{entry}'],
    run: ['./{binary}'],
    version: ['g++', '-dumpfullversion'],
  },
  {
    id: 'python3',
    name: 'Python 3',
    packages: ['python3'],
    defaultFile: 'main.py',
    // -B: the workspace is read-only when the program runs; no .pyc to write.
    run: ['python3', '-B', '{entry}'],
    version: ['python3', '-c', 'import platform; print(platform.python_version())'],
  },
  {
    id: 'bash',
    name: 'Bash',
    packages: ['bash'],
    defaultFile: 'main.sh',
    run: ['bash', '{entry}'],
    version: ['bash', '-c', 'echo "${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}.${BASH_VERSINFO[2]}"'],
  },
];

export function findLanguage(id: string): Language | undefined {
  return LANGUAGES.find((language) => language.id === id);
}

/** Fills `{entry}` and `{binary}` into a command template. */
export function expandCommand(template: string[], entry: string): string[] {
  return template.map((part) => part.replaceAll('{entry}', entry).replaceAll('{binary}', BINARY));
}
