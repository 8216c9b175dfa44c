/**
 * runcell in a podman container (rootful podman, Debian's package), the image built offline by
 * scripts/container/build-image.sh (mmdebstrap + podman import; reused once built), runcell bound at
 * /opt/runcell, the rootfs in the data directory (a volume, hard links to the suite's). Proves:
 *   - with the runtime's defaults, `runcell doctor` fails and names each option that fixes it;
 *   - with the narrowest options found to work (docs/deploy.md), `runcell serve` runs jobs inside, their
 *     limits hold (memory, pids), and runcell's cgroups are made under the container's own cgroup and
 *     leave with it: nothing on the host outside the container.
 * Skipped without podman.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config, MiB } from './helpers.js';
import { shareRootfs } from './service-helpers.js';

const podmanPath = ['/usr/bin/podman', '/usr/local/bin/podman'].find(existsSync);
const repo = resolve(import.meta.dirname, '..');
const execFileAsync = promisify(execFile);
const name = `runcell-test-${process.pid}`;
const cgroupParent = `${config.cgroupParent}-ctr`;
const dataDir = `${config.dataDir}-container`;

/**
 * podman's global options here: on a hybrid host whose cgroup2 hierarchy has a controller, crun refuses
 * to start ("cgroups in hybrid mode not supported"); runc does not.
 */
function runtimeOptions(): string[] {
  const unified = '/sys/fs/cgroup/unified/cgroup.controllers';
  const hybridWithControllers = existsSync(unified) && readFileSync(unified, 'utf8').trim() !== '';
  return hybridWithControllers && existsSync('/usr/sbin/runc') ? ['--runtime', '/usr/sbin/runc'] : [];
}

/**
 * Limits within what the caller may set: podman's defaults (nofile 1048576) need CAP_SYS_RESOURCE, which
 * this CI sandbox lacks. Plenty for runcell (its jobs get their own rlimits, their processes pids.max).
 */
function ulimitOptions(): string[] {
  return ['--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=1024:1024'];
}

function podman(args: string[], timeout = 600_000) {
  return spawnSync(podmanPath!, [...runtimeOptions(), ...args], { encoding: 'utf8', timeout });
}

/** What every container of the test shares: runcell, the data volume, its settings. */
function commonOptions(): string[] {
  return [
    ...ulimitOptions(), '--network=none',
    '-v', `${repo}:/opt/runcell:ro`, '-v', `${dataDir}:/var/lib/runcell`,
    '-e', `RUNCELL_CGROUP_PARENT=${cgroupParent}`, '-e', `RUNCELL_UID_BASE=${config.uidBase + 100}`,
  ];
}

/** The narrowest set found to work (docs/deploy.md, "Containers"), with the image's entrypoint making its cgroup mounts writable. */
const WORKER_OPTIONS = ['--cgroupns=private', '--cap-add=SYS_ADMIN,SYS_PTRACE', '--security-opt', 'unmask=ALL'];

/** Directories named like runcell's parent cgroup anywhere in the host's memory (v1) or unified (v2) tree. */
function hostCgroupsNamed(dirName: string): string[] {
  const roots = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup'].filter((root) => existsSync(join(root, 'cgroup.procs')));
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 6) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      if (entry.name === dirName) found.push(join(dir, entry.name));
      else walk(join(dir, entry.name), depth + 1);
    }
  };
  for (const root of roots.slice(0, 1)) walk(root, 0);
  return found;
}

/** Host processes whose real uid is one of the container's slot uids (from `base`, 64 of them). */
function processesOfUidsFrom(base: number): string[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
        return uid >= base && uid < base + 64 ? [`${pid} uid ${uid}`] : [];
      } catch {
        return [];
      }
    });
}

let image = '';

describe.skipIf(!podmanPath)('runcell in a podman container', () => {
  beforeAll(async () => {
    // Asynchronously: a first build takes minutes, and a test worker blocked that long misses vitest's RPC
    // deadline ("Timeout calling onTaskUpdate"), which fails the run though every test passed.
    const built = await execFileAsync(join(repo, 'scripts/container/build-image.sh'), { encoding: 'utf8', timeout: 1_200_000, maxBuffer: 64 << 20 });
    image = built.stdout.trim().split('\n').pop()!;
    // The suite's image shared by hard links (its layers, or a single-directory rootfs): instant, and the
    // container cannot change the suite's copy. The runcell in the container mounts a layered image's
    // overlay itself, in the container's own mount namespace.
    mkdirSync(dataDir, { recursive: true });
    shareRootfs(dataDir);
  }, 1_200_000);

  afterAll(() => {
    podman(['rm', '-f', '-t', '0', name]);
  });

  it('with the runtime\'s defaults, doctor fails and names each option that fixes it', () => {
    const result = podman(['run', '--rm', ...commonOptions(), image, 'node', 'bin/runcell.js', 'doctor']);
    expect(result.status).not.toBe(0);
    const line = result.stdout.split('\n').find((l) => l.includes('container runtime')) ?? '';
    expect(line).toMatch(/^FAIL {2}container runtime: in a podman container/);
    expect(line).toMatch(/--cap-add=SYS_ADMIN --cap-add=SYS_PTRACE/);
    expect(line).toMatch(/--security-opt unmask=ALL/);
    expect(line).toMatch(/cgroup tree is read-only/);
  });

  it('with its options, it serves jobs, their limits hold, and its cgroups stay inside the container\'s and leave with it', async () => {
    const started = podman(['run', '-d', '--name', name, ...WORKER_OPTIONS, ...commonOptions(), '-e', 'RUNCELL_PORT=8080', image]);
    expect(started.stderr).toBe('');
    const exec = (args: string[]) => podman(['exec', name, ...args], 120_000);
    const doctor = exec(['node', 'bin/runcell.js', 'doctor']);
    expect(doctor.stdout).toMatch(/ok {4}container runtime: in a podman container/);
    expect(doctor.stdout).toMatch(/ok {4}a sandbox run of \/bin\/true/);
    let ready = false;
    for (let i = 0; i < 120 && !ready; i++) {
      ready = exec(['curl', '-fs', 'http://127.0.0.1:8080/readyz']).status === 0;
      if (!ready) await new Promise((r) => setTimeout(r, 1000));
    }
    expect(ready).toBe(true);
    // A finished job's run result.
    const post = (job: object) => JSON.parse(exec(['curl', '-sS', '-X', 'POST', 'http://127.0.0.1:8080/v1/jobs?wait=60', '-H', 'Content-Type: application/json', '-d', JSON.stringify(job)]).stdout).result?.run;
    expect(post({ command: ['/bin/sh', '-c', 'echo hello'] })).toMatchObject({ status: 'ok', stdout: 'hello\n' });
    // While serving: runcell's parent cgroup exists on the host only under the container's cgroup.
    const pid = podman(['inspect', '--format', '{{.State.Pid}}', name]).stdout.trim();
    const containerCgroup = /^\d+:memory:(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1] ?? /^0::(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))![1];
    const mine = hostCgroupsNamed(cgroupParent);
    expect(mine.length).toBeGreaterThan(0);
    for (const dir of mine) expect(dir).toContain(containerCgroup);
    const hog = post({ command: ['/usr/bin/python3', '-c', 'a = b"x" * (256 * 1024 * 1024)'], limits: { memory_bytes: 64 * MiB } });
    expect(hog).toMatchObject({ status: 'memory_limit' });
    const forker = 'import os, time\nmade = 0\nfor _ in range(40):\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n    made += 1\nprint(made)\n';
    const forks = post({ command: ['/usr/bin/python3', '-c', forker], limits: { pids: 10 } });
    // The job is one of the 10: at most 9 children.
    expect(forks).toMatchObject({ status: 'ok' });
    expect(Number(forks.stdout.trim())).toBeGreaterThan(3);
    expect(Number(forks.stdout.trim())).toBeLessThanOrEqual(9);
    expect(podman(['rm', '-f', '-t', '5', name]).status).toBe(0);
    expect(hostCgroupsNamed(cgroupParent)).toEqual([]);
    // Nor a process of the container's slot uids (the forker's sleeping children among them) on the host.
    expect(processesOfUidsFrom(config.uidBase + 100)).toEqual([]);
  }, 600_000);
});
