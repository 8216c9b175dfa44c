/**
 * The adversarial suite's vocabulary: an attack is a real program (C, C++,
 * Python or shell) tied to the line of docs/threats.md it plays
 * out, the limits it runs under, and the safe outcome it must meet. Some
 * lines need more than one job or the HTTP service: those attacks are
 * scenarios, still data with a line number, run by their theme's test file.
 *
 * After every attack the host is checked: no process of a slot uid, no
 * cgroup under runcell's parent, no mount or workspace left in the data
 * directory, and the next job runs normally.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { RunResult } from '../../sandbox/accounting.js';
import type { RequestedLimits } from '../../sandbox/limits.js';
import type { JobRequest, JobResult } from '../../worker/job.js';
import { config, job, sandbox, sh } from '../helpers.js';

export type AttackLanguage = 'c' | 'cpp' | 'python' | 'sh';

/** What a theme's set-up knows about the host, for attacks that aim at it. */
export interface AttackContext {
  /** A TCP listener on 0.0.0.0 that counts the connections it gets (none may come from a job). */
  listenerPort?: number;
  /** Every address of this host (loopback and the others). */
  hostAddresses?: string[];
  /** A redis-server on TCP the test started, and the API's port. */
  redisPort?: number;
  apiPort?: number;
  /** An abstract unix socket name (without the leading NUL) a host process listens on. */
  abstractSocket?: string;
  /** A host file a job must never see, change or remove (absolute path). */
  sentinel?: string;
  /** The secret's value planted in the worker's environment. */
  secret?: string;
}

interface AttackBase {
  /** Unique, starting with the docs/threats.md line: "L05-c-malloc-touch". */
  id: string;
  /** The line of docs/threats.md (1-30) this attack plays out. */
  line: number;
  /** What the program does, in a few words. */
  does: string;
}

/** One job running a hostile program; `expect` asserts the safe outcome. */
export interface ProgramAttack extends AttackBase {
  language: AttackLanguage;
  source: string | ((context: AttackContext) => string);
  limits?: RequestedLimits;
  compileLimits?: RequestedLimits;
  stdin?: string;
  /** Run step's result (compile asserted ok unless `compileMayFail`), the whole job result, and the context. */
  expect: (run: RunResult, result: JobResult, context: AttackContext) => void;
  /** Compile-time bombs: the compile step is the target. */
  compileMayFail?: boolean;
}

/** An attack that needs several jobs, or the service, to play out. */
export interface ScenarioAttack extends AttackBase {
  scenario: string;
}

export type Attack = ProgramAttack | ScenarioAttack;

export function isProgram(attack: Attack): attack is ProgramAttack {
  return 'source' in attack;
}

/** The job request for a program attack. */
export function attackRequest(attack: ProgramAttack, context: AttackContext = {}): JobRequest {
  const source = typeof attack.source === 'function' ? attack.source(context) : attack.source;
  const stdin = attack.stdin === undefined ? undefined : Buffer.from(attack.stdin);
  const common = { limits: attack.limits, stdin };
  switch (attack.language) {
    case 'sh':
      return { command: ['/bin/sh', '-c', source], ...common };
    case 'python':
      return { language: 'python3', files: [{ path: 'main.py', content: Buffer.from(source) }], ...common };
    case 'c':
    case 'cpp':
      return {
        language: attack.language,
        files: [{ path: attack.language === 'c' ? 'main.c' : 'main.cpp', content: Buffer.from(source) }],
        compile_limits: attack.compileLimits,
        ...common,
      };
  }
}

/** Runs one program attack and checks its outcome and the host afterwards. */
export async function runProgramAttack(attack: ProgramAttack, context: AttackContext = {}): Promise<JobResult> {
  const started = Date.now();
  const result = await job(attackRequest(attack, context));
  // Whatever the program does, the job ends within its wall limits (plus set-up and teardown).
  const wallBudget = (attack.limits?.wall_ms ?? 5000) + (result.compile ? (attack.compileLimits?.wall_ms ?? 20_000) : 0);
  expect(Date.now() - started, `${attack.id}: job duration`).toBeLessThan(wallBudget + 10_000);
  if (!attack.compileMayFail && result.compile) {
    expect(result.compile, `${attack.id}: compile step`).toMatchObject({ status: 'ok' });
  }
  const run = result.run ?? nullRun;
  attack.expect(run, result, context);
  await expectHostUnaffected(attack.id);
  return result;
}

const nullRun = { status: 'not_run' } as unknown as RunResult;

export interface HostState {
  slotProcesses: string[];
  cgroups: string[];
  mounts: string[];
  workspaces: string[];
}

/** What runcell may have left on the host, right now. */
export function hostState(): HostState {
  const uids = (uid: number) => uid >= config.uidBase && uid < config.uidBase + config.slots;
  const slotProcesses = execFileSync('ps', ['-eo', 'uid=,pid=,ppid=,stat=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => {
      const [uid, , ppid, stat] = line.trim().split(/\s+/);
      // A zombie another process left to the host's init (an earlier test file's, say) is dead and holds
      // nothing; one of this process's own would be a child the worker failed to reap, and counts.
      const foreignZombie = stat?.startsWith('Z') && Number(ppid) !== process.pid;
      return line.trim() !== '' && uids(Number(uid)) && !foreignZombie;
    });
  const workDir = join(config.dataDir, 'work');
  // The layered image's read-only overlay under <dataDir>/mounts/ is mounted once and stays (rootfs/store.ts): not a run's.
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.split(' ')[4]?.startsWith(`${config.dataDir}/`) && !line.split(' ')[4]?.startsWith(`${config.dataDir}/mounts/`));
  return {
    slotProcesses,
    cgroups: sandbox().sandbox.cgroups.list(),
    mounts,
    workspaces: existsSync(workDir) ? readdirSync(workDir) : [],
  };
}

export const CLEAN_HOST: HostState = { slotProcesses: [], cgroups: [], mounts: [], workspaces: [] };

/** Nothing left behind, and a plain job still runs normally. */
export async function expectHostUnaffected(what: string): Promise<void> {
  expect(hostState(), `${what}: host state after the attack`).toEqual(CLEAN_HOST);
  const next = await sh('echo next job');
  expect(next, `${what}: the next job`).toMatchObject({ status: 'ok', stdout: 'next job\n', stderr: '' });
}

/** "name value" lines printed by a probe, as a record. */
export function probeLines(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter((line) => line.includes(' '))
      .map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]),
  );
}

/**
 * Headers and a TRY(label, expression) macro for C attacks: prints
 * "label ok" or "label ENAME" (the errno's name), and goes on.
 */
export const C_PRELUDE = `#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#define TRY(label, expr) do { errno = 0; long rc_ = (long)(expr); printf("%s %s\\n", label, rc_ == -1 ? strerrorname_np(errno) : "ok"); fflush(stdout); } while (0)
`;

/** try_(label, fn): prints "label ok" or "label ENAME", and goes on. */
export const PY_PRELUDE = `import errno, os, sys
def try_(label, fn):
    try:
        fn()
        print(label, 'ok', flush=True)
    except OSError as e:
        print(label, errno.errorcode.get(e.errno, e.errno), flush=True)
`;
