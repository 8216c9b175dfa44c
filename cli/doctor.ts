/**
 * `runcell doctor`: checks the host and says exactly what to fix. Ends with
 * a real sandbox run of /bin/true when everything else passed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { readMarker, rootfsLocation, rootfsProblem } from '../rootfs/build.js';
import { detectCgroupDriver } from '../sandbox/cgroup.js';
import { diagnoseV2, favordynmodsAdvice } from '../sandbox/cgroup2.js';
import { cgroupNamespaceNote, containerProblems, detectContainerEngine } from './container.js';
import { resolveLimits } from '../sandbox/limits.js';
import { cloneFallbackReason, Sandbox } from '../sandbox/sandbox.js';
import { compileSeccomp } from '../sandbox/seccomp.js';
import { SECCOMP_POLICIES } from '../sandbox/seccomp-policy.js';
import { SlotPool } from '../sandbox/slots.js';
import { runJob } from '../worker/job.js';
import type { Config } from './config.js';

function detectCgroupDriverVersion(config: Config): 1 | 2 | undefined {
  try {
    return detectCgroupDriver({ parentName: config.cgroupParent }).version;
  } catch {
    // No usable driver: the 'cgroups' check reports it, and the delegation check explains a v2 host's case.
    return undefined;
  }
}

interface Check {
  name: string;
  /** Returns a problem with its fix, or undefined when fine; may return a detail line with ok. */
  run(): Outcome | Promise<Outcome>;
}

function readNumber(path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return undefined;
  }
}

type Outcome = { problem?: string; detail?: string };

/** What `runcell doctor` checks, in order; each says what to fix. */
function checks(config: Config): Check[] {
  const installed = (path: string, fix: string) => () => (existsSync(path) ? {} : { problem: fix });
  return [
    {
      name: 'running as root',
      run: () => (process.getuid?.() === 0 ? {} : { problem: 'runcell creates cgroups and mounts: run it as root (it drops to a slot uid for every job)' }),
    },
    { name: 'unprivileged user namespaces', run: userNamespaces },
    { name: 'container runtime', run: container },
    { name: 'cgroups', run: () => cgroups(config) },
    {
      name: 'cgroup v2 delegation',
      run: () => {
        const facts = { mountinfo: readFileSync('/proc/self/mountinfo', 'utf8'), procSelfCgroup: readFileSync('/proc/self/cgroup', 'utf8'), kernel: release() };
        if (detectCgroupDriverVersion(config) === 1) return { detail: 'not used (cgroup v1 host)' };
        return diagnoseV2(facts) ?? { detail: 'not used' };
      },
    },
    { name: 'bubblewrap', run: bubblewrap },
    { name: 'libseccomp', run: libseccomp },
    { name: 'gcc (to build runcell-exec)', run: installed('/usr/bin/gcc', 'apt-get install gcc libc6-dev') },
    {
      name: 'mmdebstrap (to build the rootfs)',
      // Only to build it: a container or node given a built rootfs (a volume) does without.
      run: () => (rootfsProblem(rootfsLocation(config.dataDir, config.languages)) ? installed('/usr/bin/mmdebstrap', 'apt-get install mmdebstrap')() : { detail: 'not needed: the rootfs is built' }),
    },
    {
      name: 'redis-server (for `runcell serve` without REDIS_URL)',
      run: () => (config.redisUrl ? {} : installed('/usr/bin/redis-server', 'apt-get install redis-server, or set REDIS_URL')()),
    },
    { name: 'rootfs', run: () => rootfs(config) },
  ];
}

function userNamespaces(): Outcome {
  if ((readNumber('/proc/sys/user/max_user_namespaces') ?? 1) === 0) return { problem: 'user namespaces are disabled: sysctl -w user.max_user_namespaces=15000' };
  if (readNumber('/proc/sys/kernel/unprivileged_userns_clone') === 0) return { problem: 'sysctl -w kernel.unprivileged_userns_clone=1' };
  if (readNumber('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === 1) {
    return { problem: 'AppArmor restricts unprivileged user namespaces: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or add an AppArmor profile for /usr/bin/bwrap' };
  }
  return {};
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

/**
 * What a container runtime's defaults take away that runcell needs (capabilities, an unmasked /proc, a
 * writable cgroup tree), with the options that give it back; checked on any host.
 */
function container(): Outcome {
  const engine = detectContainerEngine(existsSync, readOrUndefined('/proc/1/environ'));
  const procSelfCgroup = readFileSync('/proc/self/cgroup', 'utf8');
  const problems = containerProblems({ engine, status: readFileSync('/proc/self/status', 'utf8'), mountinfo: readFileSync('/proc/self/mountinfo', 'utf8'), procSelfCgroup });
  const where = engine ? `in a ${engine} container` : 'not in a container';
  if (problems.length > 0) return { problem: `${where}: ${problems.join('; ')} (docs/deploy.md, "Containers")` };
  const note = engine ? cgroupNamespaceNote(engine, procSelfCgroup) : undefined;
  return { detail: `${where}: the capabilities, /proc and cgroup tree runcell needs${note ? `; note: ${note}` : ''}` };
}

function cgroups(config: Config): Outcome {
  try {
    const driver = detectCgroupDriver({ parentName: config.cgroupParent });
    const problems = driver.problems();
    return problems.length ? { problem: problems.join('; ') } : { detail: driver.describe() };
  } catch (error) {
    return { problem: (error as Error).message };
  }
}

function bubblewrap(): Outcome {
  if (!existsSync('/usr/bin/bwrap')) return { problem: 'apt-get install bubblewrap' };
  const version = execFileSync('/usr/bin/bwrap', ['--version'], { encoding: 'utf8' }).trim();
  const [major, minor] = (version.split(' ')[1] ?? '0.0').split('.').map(Number);
  if (major === 0 && minor < 8) return { problem: `${version} is too old: runcell needs --disable-userns (0.8 or later)` };
  return { detail: version };
}

function libseccomp(): Outcome {
  try {
    const sizes = Object.values(SECCOMP_POLICIES).map((policy) => `${policy.name} ${compileSeccomp(policy).bpf.length / 8}`);
    return { detail: `profiles compile to BPF instructions: ${sizes.join(', ')}` };
  } catch (error) {
    return { problem: `${(error as Error).message} (apt-get install libseccomp2)` };
  }
}

function rootfs(config: Config): Outcome {
  const location = rootfsLocation(config.dataDir, config.languages);
  const problem = rootfsProblem(location);
  if (problem) return { problem };
  const languages = Object.entries(readMarker(location.path).languages).map(([id, version]) => `${id} ${version}`);
  return { detail: `${location.path} (${languages.join(', ')})` };
}

/** On cgroup v2: how the run's bubblewrap entered its cgroup, and favordynmods where it helps (runs join). */
function cgroupEntryNote(sandbox: Sandbox): string {
  const entry = sandbox.lastCgroupEntry;
  if (sandbox.cgroups.version !== 2 || !entry) return '';
  if (entry.via === 'clone3') return '; started in its cgroup with clone3(CLONE_INTO_CGROUP)';
  const advice = favordynmodsAdvice(readFileSync('/proc/self/mountinfo', 'utf8'), release());
  return `; joined its cgroup: ${cloneFallbackReason(entry.errno)}${advice ? `; ${advice}` : ''}`;
}

export async function doctor(config: Config, out: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<boolean> {
  let healthy = true;
  for (const check of checks(config)) {
    let outcome: Outcome;
    try {
      outcome = await check.run();
    } catch (error) {
      outcome = { problem: (error as Error).message };
    }
    if (outcome.problem) {
      healthy = false;
      out(`FAIL  ${check.name}: ${outcome.problem}`);
    } else {
      out(`ok    ${check.name}${outcome.detail ? `: ${outcome.detail}` : ''}`);
    }
  }
  if (!healthy) return false;
  try {
    const sandbox = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs: rootfsLocation(config.dataDir, config.languages).path });
    const pool = new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase });
    const result = await pool
      .withSlot((slot) => runJob({ sandbox, slot }, { command: ['/bin/true'], limits: resolveLimits({}) }))
      .finally(() => sandbox.close());
    if (result.run?.status !== 'ok') throw new Error(`${result.run?.status}: ${result.run?.message}`);
    out(`ok    a sandbox run of /bin/true (${result.run.wall_ms} ms)${cgroupEntryNote(sandbox)}`);
    return true;
  } catch (error) {
    out(`FAIL  a sandbox run of /bin/true: ${(error as Error).message}`);
    return false;
  }
}
