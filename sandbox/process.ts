/**
 * Process launch: starts `runcell-exec launch` (join cgroup, drop to the
 * slot uid, run bubblewrap) with posix_spawn and stdin from a file, keeps at most `outputBytes` of
 * stdout and of stderr, and reads runcell-exec init's status record.
 */
import { closeSync, fchownSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { signalName } from './signals.js';
import { constants } from 'node:os';
import { pipe, reap, spawnWithFds, type ExitStatus } from './libc.js';

/** The signals a terminal or systemd sends a whole process group to stop it: runcell's runs are not theirs. */
const GROUP_STOP_SIGNALS = [constants.signals.SIGHUP, constants.signals.SIGINT, constants.signals.SIGQUIT, constants.signals.SIGTERM];

export interface LaunchOptions {
  helperPath: string;
  uid: number;
  gid: number;
  /** The run's cgroup.procs files: bubblewrap starts in that cgroup (clone3) or the launcher joins them first. */
  procsFiles: string[];
  /** Join the cgroup even where clone3(CLONE_INTO_CGROUP) would work (bench:sandbox's comparison). */
  joinCgroup?: boolean;
  /** Options of runcell-exec launch before the cgroup files (the view it builds and the /proc masks: mount.ts viewOptions, procMaskOptions). */
  launcherOptions?: string[];
  bwrapPath: string;
  /** bubblewrap arguments; the seccomp filter is expected on fd 3 and status on fd 4. */
  bwrapArgs: string[];
  seccompFd: number;
  /** An fd open for reading to give the job as stdin; /dev/null when undefined. */
  stdinFd?: number;
  /** An fd open for writing to give the job as stdout (then not captured); a pipe read here when undefined. */
  stdoutFd?: number;
  /** Cap per stream; the first byte past it calls onOutputLimit. */
  outputBytes: number;
  onOutputLimit: () => void;
  /** Called with each piece of output as it arrives, only the bytes kept within `outputBytes`. */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

/** What runcell-exec init reported about the job's main process. */
export type StatusRecord =
  | { kind: 'not_started' }
  | { kind: 'started' }
  | { kind: 'exit'; code: number }
  | { kind: 'signal'; signal: number }
  | { kind: 'exec_error'; errno: number };

export interface LaunchOutcome {
  /** bubblewrap's own exit (what is left when the status record is missing). */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  spawnError?: Error;
  stdout: Buffer;
  stderr: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  status: StatusRecord;
  /** How bubblewrap entered the run's cgroup, as the launcher reported it (undefined: it failed before). */
  cgroupEntry?: CgroupEntry;
}

/** clone3: started in the run's cgroup; joined: the launcher moved itself in first (errno: why not clone3, 0 not tried). */
export type CgroupEntry = { via: 'clone3' } | { via: 'joined'; errno: number };

export const SECCOMP_FD = 3;
export const STATUS_FD = 4;
/**
 * When runcell-exec launch masks /proc it gives bubblewrap these (runcell-exec.c has the same numbers):
 * bubblewrap's --info-fd (the sandbox's pid), and init's --ready-fd / --go-fd, between which the launcher
 * mounts the masks. Neither reaches the job: bubblewrap closes the first, init the other two.
 */
export const INFO_FD = 5;
export const READY_FD = 6;
export const GO_FD = 7;

/** Keeps the first `cap` bytes of a stream and counts the rest without storing it. */
export class BoundedBuffer {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  truncated = false;

  constructor(private readonly cap: number) {}

  /** Returns true when this chunk went past the cap. */
  push(chunk: Buffer): boolean {
    const room = this.cap - this.length;
    if (chunk.length <= room) {
      this.chunks.push(chunk);
      this.length += chunk.length;
      return false;
    }
    if (room > 0) this.chunks.push(chunk.subarray(0, room));
    this.length = this.cap;
    this.truncated = true;
    return true;
  }

  /** Bytes kept so far. */
  get size(): number {
    return this.length;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

export interface LaunchedProcess {
  /** Host pid of runcell-exec launch, the parent of bubblewrap, when the spawn worked. */
  pid?: number;
  /** Resolves when the launcher has exited: bubblewrap and every process of the sandbox are gone. */
  exited: Promise<void>;
  /** Resolves with everything once every pipe has closed; call after the cgroup is empty. */
  outcome(closeTimeoutMs: number): Promise<LaunchOutcome>;
}

export async function launch(options: LaunchOptions): Promise<LaunchedProcess> {
  const spawned = await spawnLauncher(options);
  const output = readOutput(spawned.reads, options);
  const exit = spawned.pid === undefined ? Promise.resolve<ExitStatus>({ code: null, signal: null }) : reapAfterClose(spawned.pid, output.status);
  const exited = exit.then(() => undefined);
  return {
    pid: spawned.pid,
    exited,
    async outcome(closeTimeoutMs) {
      const { code, signal } = await exit;
      await output.closed(closeTimeoutMs);
      return {
        exitCode: code,
        signal: signal === null ? null : (signalName(signal) as NodeJS.Signals),
        spawnError: spawned.spawnError,
        stdout: output.stdout.toBuffer(),
        stderr: output.stderr.toBuffer(),
        stdoutTruncated: output.stdout.truncated,
        stderrTruncated: output.stderr.truncated,
        status: parseStatus(output.statusText()),
        cgroupEntry: parseCgroupEntry(output.statusText()),
      };
    },
  };
}

interface Spawned {
  pid?: number;
  spawnError?: Error;
  /** Read ends of the job's stdout and stderr and of init's status record. */
  reads: { stdout: number; stderr: number; status: number };
}

/** Phase 1: the pipes, and runcell-exec launch with exactly fds 0-4; our copies of the write ends closed. */
async function spawnLauncher(options: LaunchOptions): Promise<Spawned> {
  // Real pipes (Node's own 'pipe' is a socket, and open("/dev/stdout") fails on a socket).
  const outPipe = pipe();
  const errPipe = pipe();
  const statusPipe = pipe();
  const devNull = options.stdinFd === undefined ? openSync('/dev/null', 'r') : undefined;
  const reads = { stdout: outPipe.read, stderr: errPipe.read, status: statusPipe.read };
  try {
    // Owned by the job, so that reopening /dev/stdout and /dev/stderr works inside.
    for (const fd of [outPipe.write, errPipe.write]) fchownSync(fd, options.uid, options.gid);
    // Nothing of the worker's environment, and exactly these five fds.
    const pid = await spawnWithFds(
      options.helperPath,
      [options.helperPath, 'launch', String(options.uid), String(options.gid), ...(options.launcherOptions ?? []), ...(options.joinCgroup ? ['--join-cgroup'] : []), ...options.procsFiles, '--', options.bwrapPath, ...options.bwrapArgs],
      // With the caller's stdout, our pipe's write end is closed unused below: its read end sees end of file at once.
      [options.stdinFd ?? devNull!, options.stdoutFd ?? outPipe.write, errPipe.write, options.seccompFd, statusPipe.write],
      // A stop signal to runcell's group while the launcher is being spawned must not kill it (runcell-exec discards it).
      { held: GROUP_STOP_SIGNALS },
    );
    return { pid, reads };
  } catch (error) {
    return { spawnError: error as Error, reads };
  } finally {
    for (const fd of [outPipe.write, errPipe.write, statusPipe.write, devNull]) if (fd !== undefined) closeSync(fd);
  }
}

/** Phase 2: stdout and stderr kept up to the cap (the first byte past it calls onOutputLimit), the status record read. */
function readOutput(reads: Spawned['reads'], options: LaunchOptions) {
  const streams = [reads.stdout, reads.stderr].map((fd) => new Socket({ fd, readable: true, writable: false }));
  const status = new Socket({ fd: reads.status, readable: true, writable: false });
  const [stdout, stderr] = [new BoundedBuffer(options.outputBytes), new BoundedBuffer(options.outputBytes)];
  streams[0].on('data', (chunk: Buffer) => keep('stdout', stdout, chunk));
  streams[1].on('data', (chunk: Buffer) => keep('stderr', stderr, chunk));
  function keep(name: 'stdout' | 'stderr', into: BoundedBuffer, chunk: Buffer): void {
    if (into.truncated) return;
    const before = into.size;
    const over = into.push(chunk);
    if (options.onOutput && into.size > before) passOn(options.onOutput, name, over ? chunk.subarray(0, into.size - before) : chunk);
    if (over) options.onOutputLimit();
  }
  let statusText = '';
  status.on('data', (chunk: Buffer) => {
    // The record is a few short lines; ignore anything past 1 KiB.
    if (statusText.length < 1024) statusText += chunk.toString('latin1');
  });
  const streamsClosed = Promise.all(streams.map(closed));
  return {
    stdout,
    stderr,
    status,
    statusText: () => statusText,
    /** Waits (at most `timeoutMs`) for stdout and stderr to reach end of file, then closes all three. */
    async closed(timeoutMs: number): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([streamsClosed, timedOut]);
      clearTimeout(timer);
      for (const stream of [...streams, status]) stream.destroy();
    },
  };
}

/** A listener's exception must not break the run's capture: said, and dropped. */
function passOn(onOutput: NonNullable<LaunchOptions['onOutput']>, stream: 'stdout' | 'stderr', chunk: Buffer): void {
  try {
    onOutput(stream, chunk);
  } catch (error) {
    process.emitWarning(`runcell sandbox: an output listener threw: ${(error as Error).message}`, { code: 'runcell-output-listener' });
  }
}

/** Resolves at end of file; a read error on the pipe ends it the same way (what did not arrive is not in the outcome). */
function closed(stream: Readable): Promise<void> {
  return new Promise<void>((resolve) => stream.once('close', () => resolve()).once('error', () => resolve()));
}

/**
 * Phase 3: the launcher keeps the status pipe open until it exits, and it
 * exits only when every process of the sandbox has: end of file on it means
 * the sandbox is gone. Then reap it.
 */
async function reapAfterClose(pid: number, status: Readable): Promise<ExitStatus> {
  await closed(status);
  for (;;) {
    const exit = reap(pid);
    if (exit) return exit;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** The last complete record wins; "started" alone means the job's supervisor was killed. */
export function parseStatus(text: string): StatusRecord {
  let record: StatusRecord = { kind: 'not_started' };
  for (const line of text.split('\n')) {
    const match = /^(started|exit|signal|exec_error) (-?\d+)$/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (match[1] === 'started') record = { kind: 'started' };
    else if (match[1] === 'exit') record = { kind: 'exit', code: value };
    else if (match[1] === 'signal') record = { kind: 'signal', signal: value };
    else record = { kind: 'exec_error', errno: value };
  }
  return record;
}

/** The launcher's line before init's record: "cgroup clone3" or "cgroup joined ERRNO". */
export function parseCgroupEntry(text: string): CgroupEntry | undefined {
  const match = /^cgroup (clone3|joined (\d+))$/m.exec(text);
  if (!match) return undefined;
  return match[1] === 'clone3' ? { via: 'clone3' } : { via: 'joined', errno: Number(match[2]) };
}
