/**
 * seccomp: compiles a policy (seccomp-policy.ts) to classic BPF in-process
 * with libseccomp, called through koffi. bubblewrap loads the result with
 * --seccomp FD just before it executes the job.
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { ERRNO, type ArgCondition, type Errno, type SeccompPolicy, type SyscallRule } from './seccomp-policy.js';

const SCMP_ACT_ALLOW = 0x7fff0000;
const SCMP_ACT_KILL_PROCESS = 0x80000000;
const SCMP_ACT_ERRNO = (errno: number) => (0x00050000 | (errno & 0xffff)) >>> 0;
const SCMP_FLTATR_ACT_BADARCH = 2;
const SCMP_CMP = { eq: 4, ge: 5, masked_eq: 7 } as const;

interface Libseccomp {
  init(defaultAction: number): unknown;
  release(ctx: unknown): void;
  attrSet(ctx: unknown, attr: number, value: number): number;
  resolveName(name: string): number;
  ruleAdd(ctx: unknown, action: number, syscall: number, argCount: number, cmp: unknown): number;
  exportBpf(ctx: unknown, fd: number): number;
}

let library: Libseccomp | undefined;

function libseccomp(): Libseccomp {
  if (library) return library;
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load('libseccomp.so.2');
  } catch (error) {
    throw new Error(`cannot load libseccomp.so.2 (install the Debian package libseccomp2): ${(error as Error).message}`);
  }
  const ctxType = koffi.pointer('scmp_filter_ctx', koffi.opaque());
  const argCmp = koffi.struct('scmp_arg_cmp', { arg: 'uint32', op: 'int', datum_a: 'uint64', datum_b: 'uint64' });
  library = {
    init: lib.func('seccomp_init', ctxType, ['uint32']),
    release: lib.func('seccomp_release', 'void', [ctxType]),
    attrSet: lib.func('seccomp_attr_set', 'int', [ctxType, 'int', 'uint32']),
    resolveName: lib.func('seccomp_syscall_resolve_name', 'int', ['str']),
    ruleAdd: lib.func('seccomp_rule_add_array', 'int', [ctxType, 'uint32', 'int', 'uint', koffi.pointer(argCmp)]),
    exportBpf: lib.func('seccomp_export_bpf', 'int', [ctxType, 'int']),
  };
  return library;
}

function comparison(condition: ArgCondition) {
  if (condition.op === 'masked_eq') {
    return { arg: condition.arg, op: SCMP_CMP.masked_eq, datum_a: condition.mask, datum_b: condition.value };
  }
  return { arg: condition.arg, op: SCMP_CMP[condition.op], datum_a: condition.value, datum_b: 0n };
}

/**
 * "(arg & mask) is none of values" as masked equalities, one per rule (their
 * union is exactly the complement): walk the mask's bits from the top; a
 * prefix that no excluded value shares is one comparison, a prefix that
 * some share splits on the next bit.
 */
export function complementConditions(unless: NonNullable<SyscallRule['unless']>): ArgCondition[] {
  const bits: bigint[] = [];
  for (let bit = 63n; bit >= 0n; bit--) if ((unless.mask >> bit) & 1n) bits.push(1n << bit);
  const conditions: ArgCondition[] = [];
  const walk = (depth: number, mask: bigint, value: bigint, excluded: bigint[]) => {
    if (excluded.length === 0) {
      conditions.push({ arg: unless.arg, op: 'masked_eq', mask, value });
      return;
    }
    if (depth === bits.length) return; // exactly an excluded value
    const bit = bits[depth];
    for (const set of [0n, bit]) {
      walk(depth + 1, mask | bit, value | set, excluded.filter((v) => (v & bit) === set));
    }
  };
  walk(0, 0n, 0n, [...new Set(unless.values.map((v) => v & unless.mask))]);
  return conditions;
}

/** The argument conditions of each libseccomp rule a policy rule becomes (an empty list: unconditional). */
function ruleConditions(rule: SyscallRule): ArgCondition[][] {
  const when = rule.when ?? [];
  if (!rule.unless) return [when];
  if (when.some((condition) => condition.arg === rule.unless!.arg)) throw new Error(`a rule's when and unless test the same argument: ${rule.why}`);
  return complementConditions(rule.unless).map((condition) => [...when, condition]);
}

export interface CompiledFilter {
  policy: string;
  bpf: Buffer;
  /** sha256 of the BPF, to tell filters apart in logs and caches. */
  digest: string;
}

export interface CompileOptions {
  /**
   * Answer every denied call (the default action and every errno rule) with
   * this errno instead of the policy's. Tests use an errno the kernel never
   * returns to prove that the filter, not the kernel, answered a call.
   */
  errnoOverride?: number;
}

/** Compiles a policy for the native architecture. Throws on any unknown syscall name or rejected rule. */
export function compileSeccomp(policy: SeccompPolicy, options: CompileOptions = {}): CompiledFilter {
  const seccomp = libseccomp();
  const errno = (name: Errno) => SCMP_ACT_ERRNO(options.errnoOverride ?? ERRNO[name]);
  const defaultAction = errno(policy.defaultErrno);
  const ctx = seccomp.init(defaultAction);
  if (!ctx) throw new Error('seccomp_init failed');
  try {
    // Every profile: a syscall from another ABI (the i386 `int 0x80` entry, x32 numbers) kills the
    // process; libseccomp compiles this into the filter's architecture check (docs/security.md).
    check(seccomp.attrSet(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), 'set the foreign-architecture action');
    for (const rule of policy.rules) {
      const action = rule.action === 'allow' ? SCMP_ACT_ALLOW : errno(rule.action);
      // libseccomp refuses a rule that repeats the default (with errnoOverride, every errno rule does).
      if (action === defaultAction) continue;
      for (const name of rule.syscalls) {
        const nr = nativeSyscall(seccomp, policy.name, name);
        for (const conditions of ruleConditions(rule)) {
          const rc =
            conditions.length === 0
              ? seccomp.ruleAdd(ctx, action, nr, 0, null)
              : seccomp.ruleAdd(ctx, action, nr, conditions.length, conditions.map(comparison));
          check(rc, `add the rule for ${name} (${rule.why})`);
        }
      }
    }
    // The denied list is documentation, but it must name real syscalls too.
    const newest = newestNamedSyscall(policy);
    const newer = errno(policy.newerSyscalls.errno);
    if (newer !== defaultAction) {
      for (let nr = newest + 1; nr <= policy.newerSyscalls.upTo; nr++) check(seccomp.ruleAdd(ctx, newer, nr, 0, null), `add the rule for syscall ${nr} (${policy.newerSyscalls.why})`);
    }
    return exportBpf(seccomp, ctx, policy.name);
  } finally {
    seccomp.release(ctx);
  }
}

/** The x86-64 number of a syscall by name (libseccomp's table; tests use it for syscalls the C headers lack). */
export function syscallNumber(name: string): number {
  return nativeSyscall(libseccomp(), 'lookup', name);
}

/** The highest syscall number a policy names (allowed or denied); the numbers above it are "newer". */
export function newestNamedSyscall(policy: SeccompPolicy): number {
  const seccomp = libseccomp();
  const named = [...policy.rules.flatMap((rule) => rule.syscalls), ...policy.denied.flatMap((entry) => entry.syscalls)];
  return Math.max(...named.map((name) => nativeSyscall(seccomp, policy.name, name)));
}

/** The x86-64 number of a syscall; names libseccomp does not know, or that exist only on other architectures, are errors. */
function nativeSyscall(seccomp: Libseccomp, policyName: string, name: string): number {
  const nr = seccomp.resolveName(name);
  if (nr < 0) throw new Error(`seccomp policy ${policyName}: ${name} is not a syscall of this architecture`);
  return nr;
}

/** libseccomp 2.5 exports only to a file descriptor, so go through a private temporary file. */
function exportBpf(seccomp: Libseccomp, ctx: unknown, policyName: string): CompiledFilter {
  const dir = mkdtempSync(join(tmpdir(), 'runcell-seccomp-'));
  const path = join(dir, 'filter.bpf');
  try {
    const fd = openSync(path, 'wx', 0o600);
    try {
      check(seccomp.exportBpf(ctx, fd), 'export the filter as BPF');
    } finally {
      closeSync(fd);
    }
    const bpf = readFileSync(path);
    return { policy: policyName, bpf, digest: createHash('sha256').update(bpf).digest('hex') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function check(rc: number, what: string): void {
  if (rc < 0) throw new Error(`libseccomp could not ${what}: error ${-rc}`);
}
