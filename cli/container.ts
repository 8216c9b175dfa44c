/**
 * What `runcell doctor` says inside a container: which of the runtime's defaults stop the sandbox
 * (capabilities dropped, /proc masked, a read-only cgroup tree, no cgroup namespace of its own), each
 * with the `podman run` / `docker run` option that fixes it (docs/deploy.md, "Containers").
 * Pure: the facts are read by the caller.
 */

export interface ContainerFacts {
  /** 'podman' (/run/.containerenv), 'docker' (/.dockerenv), another engine's name (pid 1's container=), or undefined: not a container. */
  engine: string | undefined;
  /** /proc/self/status */
  status: string;
  /** /proc/self/mountinfo */
  mountinfo: string;
  /** /proc/self/cgroup */
  procSelfCgroup: string;
}

/** The capabilities a worker uses, by bit number, and what for. */
const NEEDED_CAPS: [bit: number, name: string, why: string][] = [
  [21, 'SYS_ADMIN', 'mounts (workspace tmpfs, the sandbox\'s view) and namespaces'],
  [19, 'SYS_PTRACE', 'the launcher enters each sandbox\'s mount namespace (owned by the slot uid) to mask /proc'],
  [6, 'SETGID', 'dropping to a slot gid'],
  [7, 'SETUID', 'dropping to a slot uid'],
  [0, 'CHOWN', 'giving a slot its workspace'],
  [1, 'DAC_OVERRIDE', 'runcell\'s files of every slot'],
  [3, 'FOWNER', 'runcell\'s files of every slot'],
  [5, 'KILL', 'killing a run\'s processes (slot uids)'],
];

/** /proc entries container runtimes cover (a mount over any of them makes the kernel refuse a fresh /proc in a user namespace). */
const MASKED_PROC = /^\/proc\/(kcore|keys|timer_list|sched_debug|scsi|acpi|latency_stats|sys|sysrq-trigger|bus|fs|irq)$/;

function effectiveCaps(status: string): bigint | undefined {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex === undefined ? undefined : BigInt(`0x${hex}`);
}

interface Mount {
  mountPoint: string;
  options: string[];
  fsType: string;
}

function mounts(mountinfo: string): Mount[] {
  return mountinfo
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [left, right = ''] = line.split(' - ');
      const fields = left.split(' ');
      return { mountPoint: fields[4] ?? '', options: (fields[5] ?? '').split(','), fsType: right.split(' ')[0] ?? '' };
    });
}

/**
 * Each problem with the option that fixes it, for `engine`'s command line. Checked on any host (a
 * capability or /proc mask missing breaks runcell anywhere); the engine only names the fix.
 */
export function containerProblems(facts: ContainerFacts): string[] {
  const engine = facts.engine === 'docker' ? 'docker' : 'podman';
  const problems: string[] = [];
  const caps = effectiveCaps(facts.status);
  if (caps !== undefined) {
    const missing = NEEDED_CAPS.filter(([bit]) => (caps & (1n << BigInt(bit))) === 0n);
    if (missing.length > 0) {
      const list = missing.map(([, name, why]) => `${name} (${why})`).join(', ');
      problems.push(`capabilities missing: ${list}: ${engine} run ${missing.map(([, name]) => `--cap-add=${name}`).join(' ')} (or --privileged)`);
    }
  }
  const all = mounts(facts.mountinfo);
  const masked = all.filter((m) => MASKED_PROC.test(m.mountPoint)).map((m) => m.mountPoint);
  if (masked.length > 0) {
    const fix = engine === 'docker' ? 'docker run --security-opt systempaths=unconfined' : 'podman run --security-opt unmask=ALL';
    problems.push(`/proc is partly covered (${masked.slice(0, 4).join(', ')}${masked.length > 4 ? '...' : ''}): the kernel refuses each sandbox its own /proc then: ${fix} (or --privileged)`);
  }
  const cgroupMounts = all.filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2');
  const readOnly = cgroupMounts.filter((m) => m.options.includes('ro')).map((m) => m.mountPoint);
  if (readOnly.length > 0) {
    problems.push(`the cgroup tree is read-only here (${readOnly.slice(0, 3).join(', ')}${readOnly.length > 3 ? '...' : ''}): ${engine} run --privileged mounts it read-write (the runtimes have no switch for it alone)`);
  }
  return problems;
}

/** Which engine runs this container, from the marks each leaves; undefined on a host. */
export function detectContainerEngine(exists: (path: string) => boolean, pid1Environ: string | undefined): string | undefined {
  if (exists('/run/.containerenv')) return 'podman';
  if (exists('/.dockerenv')) return 'docker';
  return /(?:^|\0)container=([^\0]+)/.exec(pid1Environ ?? '')?.[1];
}

/**
 * A note, not a failure: a container in the host's cgroup namespace works where its cgroup tree is
 * writable, but runcell's cgroups are then made outside the container's (escaping its limits, left
 * behind when it is removed). Undefined when runcell is at the root of its cgroup namespace.
 */
export function cgroupNamespaceNote(engine: string, procSelfCgroup: string): string | undefined {
  const outside = procSelfCgroup.trim().split('\n').find((line) => !/:\/(runcell-supervisor)?$/.test(line));
  if (!outside) return undefined;
  return `the container shares the host's cgroup namespace (${outside}): runcell's cgroups are made outside the container's; ${engine === 'docker' ? 'docker' : 'podman'} run --cgroupns=private keeps them inside`;
}
