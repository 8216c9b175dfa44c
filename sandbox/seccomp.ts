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
import { ERRNO, type ArgCondition, type SeccompPolicy } from './seccomp-policy.js';

const SCMP_ACT_ALLOW = 0x7fff0000;
const SCMP_ACT_KILL_PROCESS = 0x80000000;
const SCMP_ACT_ERRNO = (errno: number) => (0x00050000 | (errno & 0xffff)) >>> 0;
const SCMP_FLTATR_ACT_BADARCH = 2;
const NR_SCMP_ERROR = -1;
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

export interface CompiledFilter {
  policy: string;
  bpf: Buffer;
  /** sha256 of the BPF, to tell filters apart in logs and caches. */
  digest: string;
}

export interface CompileOptions {
  /**
   * Answer every rule with this errno instead of the policy's. Tests use an
   * errno the kernel never returns to prove that the filter, not the kernel,
   * answered a call.
   */
  errnoOverride?: number;
}

/** Compiles a policy for the native architecture. Throws on any unknown syscall name or rejected rule. */
export function compileSeccomp(policy: SeccompPolicy, options: CompileOptions = {}): CompiledFilter {
  const seccomp = libseccomp();
  const ctx = seccomp.init(SCMP_ACT_ALLOW);
  if (!ctx) throw new Error('seccomp_init failed');
  try {
    check(seccomp.attrSet(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), 'set the foreign-architecture action');
    for (const rule of policy.rules) {
      for (const name of rule.syscalls) {
        const nr = seccomp.resolveName(name);
        if (nr === NR_SCMP_ERROR) throw new Error(`seccomp policy ${policy.name}: unknown syscall ${name}`);
        const action = SCMP_ACT_ERRNO(options.errnoOverride ?? ERRNO[rule.errno]);
        const rc = rule.when
          ? seccomp.ruleAdd(ctx, action, nr, 1, comparison(rule.when))
          : seccomp.ruleAdd(ctx, action, nr, 0, null);
        check(rc, `add the rule for ${name} (${rule.why})`);
      }
    }
    return exportBpf(seccomp, ctx, policy.name);
  } finally {
    seccomp.release(ctx);
  }
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
