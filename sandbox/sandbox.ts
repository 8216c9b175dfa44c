/**
 * The sandbox: runs one command in fresh namespaces, in a fresh cgroup,
 * behind the seccomp filter, on the read-only rootfs, and returns the run
 * result. Knows nothing of HTTP, queues or Redis.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fchownSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { withRoot } from './safe-fs.js';
import { sealedMemfd } from './libc.js';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runStatus, type EnforcedLimit, type RunResult } from './accounting.js';
import type { RunErrorCode } from '../contract/run-result.js';
import { detectCgroupDriver, type CgroupDriver, type CgroupStats, type RunCgroup } from './cgroup.js';
import { ensureHelper, HELPER_NAME, type Helper } from './helper.js';
import { FIXED_LIMITS, type Limits } from './limits.js';
import { filesystemArgs, HELPER_DIR, procMaskOptions, viewOptions, WRITABLE_ROOT_HOME, writableRootOptions, type ProcMasking, type RootMode } from './mount.js';
import { environmentArgs, environmentProblem, namespaceArgs } from './namespaces.js';
import type { EgressNetwork, RunNetwork } from './network.js';
import { GO_FD, INFO_FD, launch, READY_FD, SECCOMP_FD, STATUS_FD, type CgroupEntry } from './process.js';
import { rlimitArgs, rlimitsFor } from './rlimits.js';
import { compileSeccomp, type CompiledFilter } from './seccomp.js';
import { DEFAULT_SECCOMP_PROFILE, EGRESS_POLICY, SECCOMP_POLICIES, SECCOMP_PROFILE_NAMES, type SeccompPolicy, type SeccompProfileName } from './seccomp-policy.js';
import { runCgroupName, slotName, type Slot } from './slots.js';
import { Workspace } from './workspace.js';

export interface SandboxOptions {
  /** runcell's data directory (workspaces, helper, seccomp filters). */
  dataDir: string;
  /** A verified root filesystem directory (see rootfs/). */
  rootfs: string;
  /** Default /usr/bin/bwrap. */
  bwrapPath?: string;
  /** Default: detected (v2 when usable, else v1). */
  cgroups?: CgroupDriver;
  /** The seccomp profiles a run can choose from. Default: SECCOMP_POLICIES of seccomp-policy.ts. */
  policies?: Record<SeccompProfileName, SeccompPolicy>;
  /** One filter compiled beforehand, used whatever profile a run asks for (tests). */
  filter?: CompiledFilter;
  /** Optional CPU bandwidth cap per run, in CPUs (e.g. 1 = one core). Default: none. */
  cpuQuota?: number;
  /** How often the CPU time of a run is checked against its limit. Default 10 ms. */
  cpuPollMs?: number;
  /** Name of runcell's parent cgroup when `cgroups` is not given. Default "runcell". */
  cgroupParent?: string;
  /** Called after each run with where its time went (benchmarks, metrics). */
  onPhases?: (phases: RunPhases) => void;
  /** Who mounts the /proc masks (mount.ts ProcMasking). Default 'launcher'; 'bubblewrap' for bench:sandbox's comparison. */
  procMasking?: ProcMasking;
  /**
   * The host's overlay mounts no run needs (other images, a container engine's roots): detached from each
   * launcher's view ('detach', the default: bubblewrap then parses a shorter mount table) or kept ('keep',
   * for bench:sandbox's comparison).
   */
  hostOverlays?: 'detach' | 'keep';
  /** The deployment's egress network, set up (ensure()) by the caller; without it, egress runs fail with network_unavailable. */
  network?: EgressNetwork;
  /**
   * Start each run's bubblewrap in its cgroup with clone3(CLONE_INTO_CGROUP) where the kernel allows it
   * (cgroup v2, Linux 5.7+; the launcher falls back to joining the cgroup elsewhere). Default true;
   * false for bench:sandbox's comparison.
   */
  cloneIntoCgroup?: boolean;
}

/** Where a run's time went, in milliseconds. */
export interface RunPhases {
  /** /tmp mount and cgroup creation. */
  prepare: number;
  /** Starting the launcher (Node's fork and exec). */
  spawn: number;
  /** From the spawn until the launcher (and so the whole sandbox) has exited. */
  wait: number;
  /** Killing leftovers, draining pipes, reading the cgroup's figures. */
  account: number;
  /** Removing the cgroup and unmounting /tmp. */
  cleanup: number;
}

export interface RunSpec {
  slot: Slot;
  workspace: Workspace;
  /** Whether /box is writable in this run (compile steps and command jobs) or read-only. */
  boxWritable: boolean;
  argv: string[];
  env?: Record<string, string>;
  stdin?: Buffer;
  /**
   * An fd open for reading that the caller owns (e.g. a pipe's read end): the job's stdin, exclusive with
   * `stdin`. The sandbox neither closes nor keeps it: the launched sandbox holds its own copy until its last
   * process has exited. The caller keeps its copy open until run() settles (closed before the launch, the
   * number could be reused for another file and given to the job), then closes it.
   */
  stdinFd?: number;
  /**
   * An fd open for writing that the caller owns (e.g. a pipe's write end): the job's stdout goes there and
   * is not captured (the result's stdout is empty). Owned like `stdinFd`.
   */
  stdoutFd?: number;
  limits: Limits;
  /** The seccomp profile of this run. Default "standard". */
  seccompProfile?: SeccompProfileName;
  /** Aborting kills the run at once; its result then says so. */
  signal?: AbortSignal;
  /**
   * Called with stdout and stderr as they arrive (live logs), only with the bytes kept within the
   * output cap (limits.output_bytes, each stream): together they are exactly the result's stdout and stderr.
   * Called on the event loop while the run goes on: keep it quick, it must not throw (a throw is warned and dropped).
   */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /** "egress": a network namespace on runcell's bridge (see network.ts) instead of an empty one. Default "none". */
  network?: 'none' | 'egress';
  /**
   * Called once every process of the run has gone and before its /tmp is unmounted, with /tmp's host path
   * (e.g. to take a file the program left there). The run wrote that tree: read it only through safe-fs.ts.
   * Not called when the run could not be set up or started. Must not throw (a throw fails the run).
   */
  onTmpLeft?: (tmpPath: string) => void;
  /**
   * "writable": / is a copy-on-write overlay of the rootfs whose writes (on a tmpfs of limits.workspace_bytes)
   * vanish with the run, and $HOME is WRITABLE_ROOT_HOME in it. Default "read-only".
   */
  root?: RootMode;
  /**
   * This run's root filesystem instead of the sandbox's rootfs: an image of the layer store, mounted by the
   * caller (rootfs/store.ts mountImage), read-only and root-owned, with the mount points of ROOTFS_MOUNT_POINTS.
   */
  rootfs?: string;
  /** Variables of the image (its Env) under the request's: they may set PATH, which a request cannot. */
  imageEnv?: Record<string, string>;
  /** The working directory (an image's WorkingDir). Default /box. */
  cwd?: string;
}

/** Pipes still open this long after every process died belong to nobody: close them. */
const PIPE_CLOSE_TIMEOUT_MS = 2000;
/** How long the launcher may take to exit after its sandbox was killed. */
const LAUNCHER_EXIT_TIMEOUT_MS = 1000;

export class Sandbox {
  readonly cgroups: CgroupDriver;
  /** Each seccomp profile, compiled once when the sandbox is created. */
  readonly filters: Readonly<Record<SeccompProfileName, CompiledFilter>>;
  private readonly helper: Helper;
  private readonly viewDir: string;
  private readonly filterPaths: Record<SeccompProfileName, string>;
  /** The standard profile with outbound TCP, for runs with network egress (seccomp-policy.ts EGRESS_POLICY). */
  private readonly egressFilterPath: string;
  private readonly bwrapPath: string;
  private readonly cpuPollMs: number;
  /** The cgroup of the run in progress in each slot (a slot runs one at a time). */
  private readonly live = new Map<number, RunCgroup>();
  /** How the last run's bubblewrap entered its cgroup (the launcher's report; bench and doctor show it). */
  lastCgroupEntry: CgroupEntry | undefined;

  private constructor(private readonly options: SandboxOptions) {
    if (process.getuid?.() !== 0) {
      throw new Error('the sandbox must be started as root: it creates cgroups and mounts, then drops to an unprivileged slot uid');
    }
    this.bwrapPath = options.bwrapPath ?? '/usr/bin/bwrap';
    if (!existsSync(this.bwrapPath)) throw new Error(`bubblewrap not found at ${this.bwrapPath} (apt-get install bubblewrap)`);
    if (!existsSync(join(options.rootfs, HELPER_DIR))) {
      throw new Error(`${options.rootfs} is not a runcell rootfs (no ${HELPER_DIR} mount point): run \`runcell rootfs build\``);
    }
    this.cgroups = options.cgroups ?? detectCgroupDriver({ parentName: options.cgroupParent });
    this.cpuPollMs = options.cpuPollMs ?? 10;
    mkdirSync(options.dataDir, { recursive: true, mode: 0o711 });
    // Every workspace path is resolved with no symlink anywhere in it: refuse a data dir that has one
    // now, with the fix in the message, rather than fail every job later.
    withRoot(options.dataDir, () => undefined);
    this.helper = ensureHelper(options.dataDir);
    // An empty directory each launcher mounts its view on, in a mount namespace of its own.
    this.viewDir = join(options.dataDir, 'view');
    mkdirSync(this.viewDir, { mode: 0o755, recursive: true });
    const policies = options.policies ?? SECCOMP_POLICIES;
    const filters = {} as Record<SeccompProfileName, CompiledFilter>;
    const paths = {} as Record<SeccompProfileName, string>;
    for (const name of SECCOMP_PROFILE_NAMES) {
      filters[name] = options.filter ?? compileSeccomp(policies[name]);
      paths[name] = writeFilter(options.dataDir, filters[name]);
    }
    this.filters = filters;
    this.filterPaths = paths;
    this.egressFilterPath = writeFilter(options.dataDir, options.filter ?? compileSeccomp(EGRESS_POLICY));
  }

  get dataDir(): string {
    return this.options.dataDir;
  }

  /** The egress network runs may ask for, if this sandbox has one. */
  get network(): EgressNetwork | undefined {
    return this.options.network;
  }

  static create(options: SandboxOptions): Sandbox {
    return new Sandbox(options);
  }

  /**
   * Removes runcell's parent cgroups when no run uses them. Call when the
   * process is done with sandboxes (the parents are kept between runs:
   * creating them again for every run would cost more than the run's own).
   */
  close(): void {
    this.cgroups.removeParentIfEmpty();
  }

  /**
   * A fresh workspace for a job in `slot`; remove() it when the job is done.
   * Named after the slot, so that the leftovers of a dead worker can be told apart.
   */
  createWorkspace(slot: Slot, bytes: number): Promise<Workspace> {
    return Workspace.create({ dataDir: this.options.dataDir, id: `${slotName(slot.index)}-${newId()}`, slot, bytes });
  }

  /**
   * The cgroup figures of the run in progress in slot `slot` now, or
   * undefined when none runs there (for live monitoring; may throw while the
   * run's cgroup is being removed).
   */
  liveStats(slot: number): CgroupStats | undefined {
    return this.live.get(slot)?.stats();
  }

  async run(spec: RunSpec): Promise<RunResult> {
    if (spec.argv.length === 0) throw new Error('nothing to run: empty argv');
    const envProblem = environmentProblem(spec.env ?? {});
    if (envProblem) throw new Error(envProblem);
    if (spec.stdinFd !== undefined && spec.stdin !== undefined) throw new Error('give stdin or stdinFd, not both');
    const profile = spec.seccompProfile ?? DEFAULT_SECCOMP_PROFILE;
    // Fail closed, and before anything is set up: a run never goes without its filter.
    if (!Object.hasOwn(this.filterPaths, profile)) throw new Error(`unknown seccomp profile ${JSON.stringify(profile)}`);
    if (spec.network === 'egress' && !this.options.network) {
      return sandboxError('network_unavailable', 'this job asks for network egress, and this worker has none (RUNCELL_NETWORK_EGRESS is off here)');
    }
    const clock = new PhaseClock();
    const runId = newId();
    let tmp: string | undefined;
    let cgroup: RunCgroup | undefined;
    let network: RunNetwork | undefined;
    try {
      // Independent kernel work, each on the thread pool: side by side.
      const [tmpResult, cgroupResult, networkResult] = await Promise.allSettled([
        spec.workspace.createTmp(runId, spec.limits.workspace_bytes),
        this.cgroups.create(runCgroupName(spec.slot.index, this.options.dataDir, runId), {
          memoryBytes: spec.limits.memory_bytes,
          pids: spec.limits.pids + this.sandboxPidsInCgroup(),
          cpuQuota: this.options.cpuQuota,
        }),
        spec.network === 'egress' ? this.options.network!.attach(spec.slot.index) : undefined,
      ]);
      if (tmpResult.status === 'fulfilled') tmp = tmpResult.value;
      if (cgroupResult.status === 'fulfilled') cgroup = cgroupResult.value;
      if (networkResult.status === 'fulfilled') network = networkResult.value;
      if (tmpResult.status === 'rejected') throw tmpResult.reason;
      if (cgroupResult.status === 'rejected') throw cgroupResult.reason;
      if (networkResult.status === 'rejected') throw networkResult.reason;
      clock.mark('prepare');
      this.live.set(spec.slot.index, cgroupResult.value);
      const result = await this.supervise(spec, cgroupResult.value, this.bwrapArgs(spec, tmpResult.value, network), clock, network);
      // supervise emptied the cgroup: nothing of the run writes to /tmp any more.
      if (result.status !== 'sandbox_error') spec.onTmpLeft?.(tmpResult.value);
      if (!network) return result;
      // Every process of the run is gone (supervise emptied the cgroup): the counters are final.
      const taken = network;
      network = undefined;
      return { ...result, network: await taken.release() };
    } catch (error) {
      return this.failedRun(error, clock);
    } finally {
      this.live.delete(spec.slot.index);
      const [destroyed, released, unplugged] = await Promise.allSettled([cgroup?.destroy(), tmp ? spec.workspace.releaseTmp(tmp) : undefined, network?.release()]);
      clock.mark('cleanup');
      this.options.onPhases?.(clock.phases as RunPhases);
      // Fail closed: a cgroup that would not die is the caller's problem to hear about.
      if (destroyed.status === 'rejected') throw destroyed.reason;
      if (released.status === 'rejected') throw released.reason;
      if (unplugged.status === 'rejected') throw unplugged.reason;
    }
  }

  /** A run that threw: the phase it reached (the clock's last mark) tells what failed. */
  private failedRun(error: unknown, clock: PhaseClock): RunResult {
    const reason = (error as Error).message;
    if (clock.phases.prepare === undefined) {
      // bubblewrap would fail on a missing rootfs too; a set-up failure is the first sign. Said once, by code.
      if (!existsSync(join(this.options.rootfs, HELPER_DIR))) return sandboxError('rootfs_missing', `cannot set up the sandbox: the rootfs ${this.options.rootfs} is gone (${reason})`);
      return sandboxError('setup_failed', `cannot set up the sandbox: ${reason}`);
    }
    if (clock.phases.spawn === undefined) return sandboxError('spawn_failed', `cannot start the sandbox: ${reason}`);
    if (clock.phases.wait === undefined) return sandboxError('launcher_died', `lost the sandbox's launcher while it ran: ${reason}`);
    return sandboxError('accounting_failed', `the run ended but its figures could not be read: ${reason}`);
  }

  private get procMasking(): ProcMasking {
    return this.options.procMasking ?? 'launcher';
  }

  private bwrapArgs(spec: RunSpec, tmp: string, network: RunNetwork | undefined): string[] {
    // The launcher masks /proc between init's ready and go bytes; it learns the sandbox's pid from --info-fd.
    const byLauncher = this.procMasking === 'launcher';
    return [
      ...namespaceArgs({ sharedNet: network !== undefined }),
      ...environmentArgs(spec.env, { ...(spec.imageEnv?.PATH ? { PATH: spec.imageEnv.PATH } : {}), ...(spec.root === 'writable' ? { HOME: WRITABLE_ROOT_HOME } : {}) }, spec.imageEnv),
      ...filesystemArgs(
        {
          view: this.viewDir,
          box: { source: spec.workspace.boxPath, writable: spec.boxWritable },
          tmp,
          root: spec.root,
        },
        this.procMasking,
      ),
      // The resolver on runcell's bridge, from a tmpfs of its own (the job's mount table shows no host path).
      ...(network ? ['--ro-bind', this.options.network!.resolvConf, '/etc/resolv.conf'] : []),
      '--chdir', spec.cwd ?? '/box',
      '--seccomp', String(SECCOMP_FD),
      ...(byLauncher ? ['--info-fd', String(INFO_FD)] : []),
      // runcell-exec init is the namespace's pid 1: it reaps orphans and reports the job's raw status.
      '--as-pid-1',
      '--',
      `${HELPER_DIR}/${HELPER_NAME}`, 'init', `--status-fd=${STATUS_FD}`,
      ...(byLauncher ? [`--ready-fd=${READY_FD}`, `--go-fd=${GO_FD}`] : []),
      ...rlimitArgs(rlimitsFor(spec.limits)),
      '--',
      ...spec.argv,
    ];
  }

  /** Launches, enforces CPU, wall and output limits while it runs, then accounts. */
  private async supervise(spec: RunSpec, cgroup: RunCgroup, bwrapArgs: string[], clock: PhaseClock, network: RunNetwork | undefined): Promise<RunResult> {
    const killer = new RunKiller(cgroup);
    const started = performance.now();
    const proc = await this.launchInto(spec, cgroup, bwrapArgs, () => killer.stop('output_limit'), network);
    clock.mark('spawn');
    killer.launcherPid = proc.pid;
    const unwatch = this.watchLimits(spec, cgroup, killer);
    let wallMs = 0;
    try {
      await proc.exited;
      wallMs = performance.now() - started;
      clock.mark('wait');
    } finally {
      unwatch();
      await killer.settled();
    }
    // bubblewrap is gone; whatever the job left behind goes now. Not caught: a cgroup that cannot be
    // emptied fails the run (accounting_failed) instead of being reported as a clean end.
    await cgroup.killAll();
    const outcome = await proc.outcome(PIPE_CLOSE_TIMEOUT_MS);
    this.noteCgroupEntry(outcome.cgroupEntry);
    const stats = cgroup.stats();
    clock.mark('account');
    return runStatus({ limits: spec.limits, outcome, stats, wallMs, enforced: killer.enforced });
  }

  /**
   * runcell's own processes in a run's pids cgroup: bubblewrap's monitor and init, and the launcher when
   * it joins. Where it starts bubblewrap by clone3 it is outside. Expected from the cgroup version and the
   * last run's report: the first run after a fallback to joining (said once) gives its job one pid less.
   */
  private sandboxPidsInCgroup(): number {
    const clones = this.cgroups.version === 2 && this.options.cloneIntoCgroup !== false && this.lastCgroupEntry?.via !== 'joined';
    return FIXED_LIMITS.sandboxOwnPids - (clones ? 1 : 0);
  }

  /** Says once per process why runs on cgroup v2 join their cgroup instead of starting in it (clone3). */
  private noteCgroupEntry(entry: CgroupEntry | undefined): void {
    this.lastCgroupEntry = entry ?? this.lastCgroupEntry;
    if (entry?.via !== 'joined' || this.cgroups.version !== 2 || this.options.cloneIntoCgroup === false || cloneFallbackSaid) return;
    cloneFallbackSaid = true;
    process.emitWarning(`runcell sandbox: ${cloneFallbackReason(entry.errno)}; each run's launcher joins its cgroup instead (a move, which waits for the kernel's cgroup lock)`, {
      code: 'runcell-clone-into-cgroup',
    });
  }

  /** A run with egress under the standard profile gets outbound TCP; every other run its profile as asked. */
  private filterPathOf(spec: RunSpec, network: RunNetwork | undefined): string {
    const profile = spec.seccompProfile ?? DEFAULT_SECCOMP_PROFILE;
    return network && profile === 'standard' ? this.egressFilterPath : this.filterPaths[profile];
  }

  /** Starts runcell-exec (and through it bubblewrap) in the run's cgroup, with the seccomp filter and stdin. */
  private async launchInto(spec: RunSpec, cgroup: RunCgroup, bwrapArgs: string[], onOutputLimit: () => void, network: RunNetwork | undefined) {
    const seccompFd = openSync(this.filterPathOf(spec, network), 'r');
    // The caller's fd is the caller's to close; only our own memfd is closed below.
    const ownStdinFd = spec.stdinFd === undefined && spec.stdin && spec.stdin.length > 0 ? stdinFile(spec.stdin, spec.slot) : undefined;
    try {
      return await launch({
        helperPath: this.helper.path,
        uid: spec.slot.uid,
        gid: spec.slot.gid,
        procsFiles: cgroup.procsFiles,
        joinCgroup: this.options.cloneIntoCgroup === false,
        launcherOptions: [
          ...viewOptions(this.viewDir, spec.rootfs ?? this.options.rootfs, this.helper.dir),
          ...(spec.root === 'writable' ? writableRootOptions(spec.rootfs ?? this.options.rootfs, spec.limits.workspace_bytes, FIXED_LIMITS.workspaceInodes, spec.cwd) : []),
          ...(this.options.hostOverlays === 'keep' ? ['--host-overlays=keep'] : []),
          ...(this.procMasking === 'launcher' ? procMaskOptions() : []),
          ...(network ? [`--netns=${network.netnsPath}`] : []),
        ],
        bwrapPath: this.bwrapPath,
        bwrapArgs,
        seccompFd,
        stdinFd: spec.stdinFd ?? ownStdinFd,
        stdoutFd: spec.stdoutFd,
        outputBytes: spec.limits.output_bytes,
        onOutputLimit,
        onOutput: spec.onOutput,
      });
    } finally {
      // The child holds its own copies.
      closeSync(seccompFd);
      if (ownStdinFd !== undefined) closeSync(ownStdinFd);
    }
  }

  /** The wall-clock timer, the CPU poll and the cancel signal, each stopping the run; returns their removal. */
  private watchLimits(spec: RunSpec, cgroup: RunCgroup, killer: RunKiller): () => void {
    const wallTimer = setTimeout(() => killer.stop('wall_time_limit'), spec.limits.wall_ms);
    const cpuLimitNs = spec.limits.cpu_ms * 1e6;
    const cpuTimer = setInterval(() => {
      try {
        if (cgroup.cpuNs() >= cpuLimitNs) killer.stop('time_limit');
      } catch {
        // The cgroup is being torn down as the run ends; the final accounting reads it (or fails) once more.
      }
    }, this.cpuPollMs);
    const onAbort = () => killer.stop('cancelled');
    spec.signal?.addEventListener('abort', onAbort, { once: true });
    if (spec.signal?.aborted) onAbort();
    return () => {
      clearTimeout(wallTimer);
      clearInterval(cpuTimer);
      spec.signal?.removeEventListener('abort', onAbort);
    };
  }
}

let cloneFallbackSaid = false;

/** Why the launcher could not use clone3(CLONE_INTO_CGROUP), from the errno it reported. */
export function cloneFallbackReason(errno: number): string {
  const name = Object.entries(osConstants.errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`;
  if (name === 'ENOSYS') return 'clone3 is refused here (ENOSYS: a kernel before 5.3, or a seccomp profile, such as a container runtime\'s default, that blocks it)';
  if (name === 'E2BIG' || name === 'EINVAL') return `clone3 has no CLONE_INTO_CGROUP here (${name}: a kernel before 5.7)`;
  if (errno === 0) return 'the run\'s cgroup is not on a cgroup2 mount, so clone3(CLONE_INTO_CGROUP) is not tried';
  return `clone3(CLONE_INTO_CGROUP) failed (${name})`;
}

/** Ends a run for a limit or a cancel, once: the first reason is the one reported. */
class RunKiller {
  enforced: EnforcedLimit | 'cancelled' | undefined;
  /** Spared by the first kill (it reaps its sandbox and reports the status); killed if it outlives it. */
  launcherPid: number | undefined;
  private killing: Promise<void> | undefined;
  private launcherDeadline: NodeJS.Timeout | undefined;

  constructor(private readonly cgroup: RunCgroup) {}

  stop(reason: EnforcedLimit | 'cancelled'): void {
    this.enforced ??= reason;
    this.killing ??= this.cgroup
      .killAll(this.launcherPid)
      .catch((error: Error) => warnKill('stopping the run', error))
      .then(() => {
        // The launcher exits once its sandbox is gone; if it does not, it goes too: through the cgroup where
        // it joined it, by its pid where it started bubblewrap by clone3 and stayed outside (our unreaped
        // child until settled() clears this timer, so the pid is still its own).
        this.launcherDeadline = setTimeout(() => {
          this.cgroup.killAll().catch((error: Error) => warnKill('killing a launcher that outlived its sandbox', error));
          if (this.launcherPid !== undefined) killQuietly(this.launcherPid);
        }, LAUNCHER_EXIT_TIMEOUT_MS);
      });
  }

  /** Waits for a kill under way, then drops the launcher's deadline (the launcher has exited). */
  async settled(): Promise<void> {
    await this.killing;
    clearTimeout(this.launcherDeadline);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/**
 * A kill that failed while the run was still going: the run's final killAll, which is not caught, tries
 * again and fails the run if the cgroup still cannot be emptied. Said here so that the first failure is seen.
 */
function warnKill(when: string, error: Error): void {
  process.emitWarning(`runcell sandbox: ${when}: ${error.message}`, { code: 'runcell-kill-failed' });
}

class PhaseClock {
  readonly phases: Partial<RunPhases> = {};
  private last = performance.now();

  mark(phase: keyof RunPhases): void {
    const now = performance.now();
    this.phases[phase] = now - this.last;
    this.last = now;
  }
}

/**
 * Stdin is a sealed in-memory file, like a judge's input file: seekable,
 * reopenable as /dev/stdin (so it belongs to the slot uid), unchangeable.
 */
function stdinFile(content: Buffer, slot: Slot): number {
  const fd = sealedMemfd('stdin', content);
  fchownSync(fd, slot.uid, slot.gid);
  return fd;
}

function writeFilter(dataDir: string, filter: CompiledFilter): string {
  const dir = join(dataDir, 'seccomp');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${filter.policy}-${filter.digest.slice(0, 16)}.bpf`);
  if (!existsSync(path)) {
    const staging = `${path}.${process.pid}`;
    writeFileSync(staging, filter.bpf, { mode: 0o600 });
    // rename is atomic: a concurrent reader sees the whole filter or none.
    renameSync(staging, path);
  }
  return path;
}

export function newId(): string {
  return randomBytes(8).toString('hex');
}

export function sandboxError(code: RunErrorCode, message: string): RunResult {
  return {
    status: 'sandbox_error',
    exit_code: null,
    signal: null,
    stdout: '',
    stderr: '',
    stdout_truncated: false,
    stderr_truncated: false,
    cpu_ms: 0,
    wall_ms: 0,
    memory_peak_bytes: 0,
    oom_killed: false,
    message,
    error_code: code,
  };
}
