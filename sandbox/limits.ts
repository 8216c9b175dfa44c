/**
 * The limits of one sandbox run: the single table of their defaults and
 * maximums. Everything else (CLI flags, environment overrides, docs) reads
 * this table; nothing else holds a default of its own.
 */
import { LIMIT_NAMES, requestedLimitsSchema, type LimitName } from '../contract/limits.js';

export { LIMIT_NAMES, type LimitName };

export interface Limits {
  /** CPU time of all the run's processes together, from cgroup accounting. */
  cpu_ms: number;
  /** Wall-clock time from launch to exit. */
  wall_ms: number;
  /** Memory of all processes together (cgroup), swap excluded. */
  memory_bytes: number;
  /** Processes and threads alive at once (cgroup pids). */
  pids: number;
  /** Bytes kept of stdout and of stderr, each; the run ends when one overflows. */
  output_bytes: number;
  /** Largest file a process may write (RLIMIT_FSIZE). */
  file_size_bytes: number;
  /** Size of /box and of /tmp, each (tmpfs size=). */
  workspace_bytes: number;
}

export interface LimitSpec {
  default: number;
  /** Default for a compile step (compilers need more than the programs they build). */
  compileDefault: number;
  max: number;
  min: number;
  unit: 'ms' | 'bytes' | 'count';
  doc: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Defaults and maximums. Operators override them with RUNCELL_DEFAULT_<NAME> / RUNCELL_MAX_<NAME>. */
export const LIMIT_TABLE: Record<LimitName, LimitSpec> = {
  cpu_ms: { default: 2_000, compileDefault: 10_000, max: 60_000, min: 1, unit: 'ms', doc: 'CPU time of all processes together' },
  wall_ms: { default: 5_000, compileDefault: 20_000, max: 120_000, min: 1, unit: 'ms', doc: 'wall-clock time' },
  memory_bytes: { default: 256 * MiB, compileDefault: 512 * MiB, max: 4 * GiB, min: 4 * MiB, unit: 'bytes', doc: 'memory of all processes, swap excluded' },
  pids: { default: 64, compileDefault: 64, max: 1024, min: 1, unit: 'count', doc: 'processes and threads at once' },
  output_bytes: { default: 1 * MiB, compileDefault: 1 * MiB, max: 64 * MiB, min: 0, unit: 'bytes', doc: 'stdout and stderr, each' },
  file_size_bytes: { default: 16 * MiB, compileDefault: 64 * MiB, max: 1 * GiB, min: 0, unit: 'bytes', doc: 'largest file written' },
  workspace_bytes: { default: 64 * MiB, compileDefault: 256 * MiB, max: 1 * GiB, min: 64 * KiB, unit: 'bytes', doc: 'size of /box and of /tmp, each' },
};

/** Fixed per-run resources that are not per-job choices. */
export const FIXED_LIMITS = {
  /** RLIMIT_NOFILE of the job's processes. */
  openFiles: 256,
  /** Inodes of /box and of /tmp, each (tmpfs nr_inodes=). */
  workspaceInodes: 16_384,
  /**
   * cgroup v1 only: socket buffers (UDP's; the job has no TCP) are charged to a counter of their own,
   * next to the memory limit, capped at the memory limit or this, whichever is lower: what a v1 job can
   * hold beyond its memory limit. (v2 counts them in the memory limit itself.)
   */
  v1SocketBufferBytes: 16 * MiB,
  /** runcell-exec launch, bubblewrap's monitor and runcell-exec init (pid 1) live in the run's pids cgroup too (the launcher not where it starts bubblewrap by clone3: sandbox.ts sandboxPidsInCgroup). */
  sandboxOwnPids: 3,
};

export type LimitTable = Record<LimitName, LimitSpec>;

/** The table with RUNCELL_DEFAULT_<NAME> and RUNCELL_MAX_<NAME> applied. */
export function limitTableFromEnv(env: NodeJS.ProcessEnv = process.env): LimitTable {
  const table = structuredClone(LIMIT_TABLE);
  for (const name of LIMIT_NAMES) {
    const key = name.toUpperCase();
    for (const [prefix, field] of [['DEFAULT', 'default'], ['COMPILE_DEFAULT', 'compileDefault'], ['MAX', 'max']] as const) {
      const raw = env[`RUNCELL_${prefix}_${key}`];
      if (raw === undefined || raw === '') continue;
      const value = Number(raw);
      if (!Number.isSafeInteger(value) || value < table[name].min) {
        throw new Error(`RUNCELL_${prefix}_${key} must be an integer >= ${table[name].min}, got ${JSON.stringify(raw)}`);
      }
      table[name][field] = value;
    }
    if (table[name].default > table[name].max || table[name].compileDefault > table[name].max) {
      throw new Error(`the default of ${name} is above its maximum ${table[name].max}`);
    }
  }
  return table;
}

/** A zod schema for requested limits: every field optional, each within [min, max] of the table. */
export function limitsSchema(table: LimitTable = LIMIT_TABLE) {
  return requestedLimitsSchema(table);
}

export type RequestedLimits = Partial<Limits>;

/**
 * Fills in defaults and checks maximums. `extra` holds a language's own
 * defaults (e.g. more pids for a JVM), applied under the request.
 */
export function resolveLimits(
  requested: RequestedLimits = {},
  options: { phase?: 'compile' | 'run'; table?: LimitTable; extra?: RequestedLimits } = {},
): Limits {
  const table = options.table ?? LIMIT_TABLE;
  const checked = limitsSchema(table).safeParse(requested);
  if (!checked.success) throw new RangeError(checked.error.issues.map((issue) => issue.message).join('; '));
  const parsed = checked.data;
  const limits = {} as Limits;
  for (const name of LIMIT_NAMES) {
    const fallback = options.phase === 'compile' ? table[name].compileDefault : table[name].default;
    limits[name] = Math.min(parsed[name] ?? options.extra?.[name] ?? fallback, table[name].max);
  }
  return limits;
}
